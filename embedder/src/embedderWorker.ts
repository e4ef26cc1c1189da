import { setTimeout as sleep } from 'node:timers/promises';
import { buffer as readAll } from 'node:stream/consumers';
import type { Consumer, KafkaMessage, Kafka, Producer } from 'kafkajs';
import sharp from 'sharp';
import type { CommandHandler } from '@deeplens/commands/commandHandler';
import { imageDecider } from '@deeplens/commands/image/imageDecider';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { imageRules } from '@deeplens/commands/writeModelRules';
import type { EventSerde } from '@deeplens/events/eventSerde';
import type { ImageUploaded } from '@deeplens/events/imageEvents';
import { topics } from '@deeplens/events/topics';
import { ConflictError, DeepLensError, NotFoundError } from '@deeplens/platform/errors';
import type { Logger } from '@deeplens/platform/logger';
import {
  consumerLag,
  deadLetters,
  embeddingBatchSize,
  embeddingLatency,
  eventsApplied,
} from '@deeplens/platform/metrics';
import { SpanKind, traceContextOf, withSpan } from '@deeplens/platform/telemetry';
import type { TenantStorage, TenantWithStorage } from '@deeplens/platform/tenantStorage';
import type { EmbeddingModel } from './onnxEmbeddingModel.ts';

export type EmbedderOptions = {
  kafka: Kafka;
  serde: EventSerde;
  handler: CommandHandler;
  model: EmbeddingModel;
  storageOf: (tenant: TenantWithStorage) => TenantStorage;
  log: Logger;
  batchSize: number;
  batchWindowMs: number;
  maxAttempts: number;
  thumbnailSize: number;
  topic?: string;
  dlqTopic?: string;
  groupId?: string;
  /** Where a new consumer group starts, per partition (tests start at the topic's current end). */
  startAt?: { partition: number; offset: string }[];
};

type Job = { message: KafkaMessage; partition: number; event: ImageUploaded };
type Fetched = { job: Job; bytes: Buffer; storage: TenantStorage };

/** A failure that will not get better by trying again: the image is recorded as failed. */
class PermanentFailure extends Error {}

/**
 * Turns every `ImageUploaded` into `ImageEmbedded` (or `ImageEmbeddingFailed` with the reason)
 * and a `ThumbnailGenerated`, recorded through the write side. Batches inference across
 * images (size and time window), so both cores stay busy. A transient failure (object storage
 * down) is retried with backoff; after `maxAttempts` the record goes to the dead-letter topic
 * with the reason, so the partition moves on. Commands carry idempotency keys derived from
 * the image and the model version, so a redelivered record changes nothing twice.
 */
export function createEmbedderWorker(options: EmbedderOptions) {
  const { handler, model, log, serde } = options;
  const topic = options.topic ?? topics.image;
  const dlqTopic = options.dlqTopic ?? topics.embedderDlq;
  const { modelId, modelVersion } = model.manifest;
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  const counts = { embedded: 0, failed: 0, deadLettered: 0, thumbnails: 0 };
  const groupId = options.groupId ?? `deeplens-embedder-${modelId}@${modelVersion}`;

  const origin = (imageId: string, step: string) => ({
    actor: 'system:embedder' as const,
    causationId: imageId,
    idempotency: { scope: 'embedder', key: `${imageId}:${modelId}@${modelVersion}:${step}` },
  });

  /** Runs a command whose refusal means "nothing to do": the image was deleted meanwhile. */
  async function record(run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (error) {
      if (error instanceof ConflictError || error instanceof NotFoundError) return;
      throw error;
    }
  }

  async function fetchImage(job: Job): Promise<Fetched> {
    const tenant = await handler.load(tenantDecider, job.event.data.tenantId);
    if (tenant.status === 'initial' || tenant.status === 'deleted')
      throw new PermanentFailure('the tenant no longer exists');
    const storage = options.storageOf(tenant);
    for (let attempt = 1; ; attempt++) {
      try {
        const bytes = await readAll(await storage.store.get(storage.bucket, job.event.data.objectKey));
        return { job, bytes, storage };
      } catch (error) {
        if (error instanceof NotFoundError)
          throw new PermanentFailure(`the image object ${job.event.data.objectKey} is missing`);
        if (attempt >= options.maxAttempts) throw error;
        const delay = Math.min(5000, 100 * 2 ** attempt);
        log.warn('object storage failed; retrying', {
          imageId: job.event.data.imageId,
          attempt,
          delayMs: delay,
          error,
        });
        await sleep(delay);
      }
    }
  }

  async function thumbnail(fetched: Fetched): Promise<void> {
    const { event } = fetched.job;
    const size = options.thumbnailSize;
    const { data, info } = await sharp(fetched.bytes, { failOn: 'none' })
      .rotate()
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    const key = fetched.storage.thumbnailKeyOf(event.data.sha256, size);
    await fetched.storage.store.put(fetched.storage.bucket, key, data, 'image/webp');
    await record(() =>
      handler.handle(
        imageDecider,
        {
          type: 'RecordThumbnail',
          data: {
            tenantId: event.data.tenantId,
            imageId: event.data.imageId,
            objectKey: key,
            width: info.width,
            height: info.height,
            mime: 'image/webp',
          },
        },
        origin(event.data.imageId, 'thumbnail'),
        imageRules,
      ),
    );
    counts.thumbnails++;
  }

  async function fail(job: Job, reason: string, retriable: boolean): Promise<void> {
    const { tenantId, imageId } = job.event.data;
    await record(() =>
      handler.handle(
        imageDecider,
        {
          type: 'RecordImageEmbeddingFailure',
          data: { tenantId, imageId, modelId, modelVersion, reason, retriable },
        },
        origin(imageId, 'failure'),
        imageRules,
      ),
    );
    counts.failed++;
    log.warn('image embedding failed', { tenantId, imageId, reason });
  }

  async function deadLetter(
    job: { message: KafkaMessage; partition: number },
    reason: string,
  ): Promise<void> {
    await producer!.send({
      topic: dlqTopic,
      acks: -1,
      messages: [
        {
          key: job.message.key,
          value: job.message.value,
          headers: {
            ...job.message.headers,
            'dlq-reason': reason,
            'dlq-source': `${topic}:${job.partition}:${job.message.offset}`,
          },
        },
      ],
    });
    counts.deadLettered++;
    deadLetters.inc({ consumer: 'embedder' });
    log.error('record sent to the dead-letter topic', {
      partition: job.partition,
      offset: job.message.offset,
      reason,
    });
  }

  /** One batch of uploads: fetch in parallel, embed together, record each result. */
  async function process(jobs: Job[]): Promise<void> {
    const fetched: Fetched[] = [];
    await Promise.all(
      jobs.map(async (job) => {
        try {
          fetched.push(await fetchImage(job));
        } catch (error) {
          if (error instanceof PermanentFailure) await fail(job, error.message, false);
          else await deadLetter(job, `object storage kept failing: ${(error as Error).message}`);
        }
      }),
    );
    if (fetched.length === 0) return;
    const started = performance.now();
    const results = await model.embedSettled(fetched.map((f) => f.bytes));
    embeddingLatency.observe((performance.now() - started) / 1000);
    embeddingBatchSize.observe(fetched.length);
    await Promise.all(
      fetched.map((item, i) =>
        // Each image's results continue the trace of its upload.
        withSpan(
          'embed image',
          {
            kind: SpanKind.CONSUMER,
            parent: traceContextOf(item.job.message.headers),
            attributes: {
              'deeplens.image_id': item.job.event.data.imageId,
              'deeplens.batch_size': fetched.length,
            },
          },
          () => recordResult(item, results[i]!),
        ),
      ),
    );
  }

  async function recordResult(item: Fetched, result: Float32Array | Error): Promise<void> {
    const { tenantId, imageId } = item.job.event.data;
    if (result instanceof Error) {
      const reason =
        result instanceof DeepLensError
          ? `${String((result.detail as { reason?: string } | undefined)?.reason ?? result.code)}: ${result.message}`
          : result.message;
      await fail(item.job, reason, false);
      return;
    }
    await record(() =>
      handler.handle(
        imageDecider,
        { type: 'RecordImageEmbedding', data: { tenantId, imageId, modelId, modelVersion, vector: result } },
        origin(imageId, 'embedding'),
        imageRules,
      ),
    );
    counts.embedded++;
    eventsApplied.inc({ consumer: 'embedder' });
    log.debug('image embedded', { tenantId, imageId, modelId, modelVersion });
    await thumbnail(item).catch((error: unknown) =>
      log.warn('thumbnail failed', { tenantId, imageId, error }),
    );
  }

  return {
    counts,
    async start(): Promise<void> {
      producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      consumer = options.kafka.consumer({
        groupId: options.groupId ?? `deeplens-embedder-${modelId}@${modelVersion}`,
        maxWaitTimeInMs: options.batchWindowMs,
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      if (options.startAt) {
        const startAt = options.startAt;
        consumer.on(consumer.events.GROUP_JOIN, () => {
          for (const { partition, offset } of startAt) consumer!.seek({ topic, partition, offset });
        });
      }
      await consumer.run({
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async (payload) => {
          const { batch } = payload;
          const resolveOffset = (offset: string) => payload.resolveOffset(offset);
          const heartbeat = () => payload.heartbeat();
          const isRunning = () => payload.isRunning();
          const isStale = () => payload.isStale();
          let pending: { job: Job; offset: string }[] = [];
          const flush = async () => {
            if (pending.length === 0) return;
            await process(pending.map((p) => p.job));
            resolveOffset(pending[pending.length - 1]!.offset);
            pending = [];
            await heartbeat();
          };
          consumerLag.set(
            { group: groupId, topic: batch.topic, partition: String(batch.partition) },
            Number(batch.offsetLag()),
          );
          for (const message of batch.messages) {
            if (!isRunning() || isStale()) break;
            // Only uploads concern the embedder; the header spares decoding every other event.
            if (message.headers?.['event-type']?.toString() !== 'ImageUploaded') {
              if (pending.length === 0) resolveOffset(message.offset);
              continue;
            }
            let event;
            try {
              event = await serde.decodeEvent(message.value!);
            } catch (error) {
              await flush();
              await deadLetter(
                { message, partition: batch.partition },
                `undecodable record: ${(error as Error).message}`,
              );
              resolveOffset(message.offset);
              continue;
            }
            if (event.type !== 'ImageUploaded') continue;
            pending.push({ job: { message, partition: batch.partition, event }, offset: message.offset });
            if (pending.length >= options.batchSize) await flush();
          }
          await flush();
        },
      });
    },
    async stop(): Promise<void> {
      await consumer?.disconnect();
      await producer?.disconnect();
    },
  };
}
