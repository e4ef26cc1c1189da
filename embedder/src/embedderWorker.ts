import { setTimeout as sleep } from 'node:timers/promises';
import { buffer as readAll } from 'node:stream/consumers';
import type { Consumer, KafkaMessage, Kafka, Producer } from 'kafkajs';
import type { CommandHandler } from '@deeplens/commands/commandHandler';
import { imageDecider } from '@deeplens/commands/image/imageDecider';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { imageRules } from '@deeplens/commands/writeModelRules';
import type { EventSerde } from '@deeplens/events/eventSerde';
import type { ImageUploaded } from '@deeplens/events/imageEvents';
import { topics } from '@deeplens/events/topics';
import { ConcurrencyError, ConflictError, DeepLensError, NotFoundError } from '@deeplens/platform/errors';
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
import type { DecodedUpload } from './decodeUpload.ts';
import { decodeUpload } from './decodeUpload.ts';
import { createInferenceBatcher } from './inferenceBatcher.ts';
import { extractLocalFeatures } from './localFeatures.ts';
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
  /** Partitions whose records are embedded at the same time, sharing batches. Default 6. */
  partitionsConsumedConcurrently?: number;
  topic?: string;
  dlqTopic?: string;
  groupId?: string;
  /** Where a new consumer group starts, per partition (tests start at the topic's current end). */
  startAt?: { partition: number; offset: string }[];
};

type Job = { message: KafkaMessage; partition: number; event: ImageUploaded };
type Fetched = { job: Job; bytes: Buffer; storage: TenantStorage };
/**
 * An upload decoded once, for the model, the local features and the thumbnail, or the reason
 * it cannot be. Without `localFeatures` (OpenCV failed on it) the embedding is still recorded.
 */
type DecodedOk = { job: Job; storage: TenantStorage; upload: DecodedUpload; localFeatures?: Buffer };
type Decoded = DecodedOk | { job: Job; rejected: Error };

/** A failure that will not get better by trying again: the image is recorded as failed. */
class PermanentFailure extends Error {}

function rejectionReason(error: Error): string {
  return error instanceof DeepLensError
    ? `${String((error.detail as { reason?: string } | undefined)?.reason ?? error.code)}: ${error.message}`
    : error.message;
}

/**
 * Turns every `ImageUploaded` into `ImageEmbedded` (or `ImageEmbeddingFailed` with the reason)
 * and a `ThumbnailGenerated`, recorded through the write side. Each image is decoded once, for
 * the model and the thumbnail; inference is batched across the images of all partitions being
 * consumed (and across Kafka fetches), so both cores stay busy; a partition's offsets are
 * resolved only once its images' results are recorded. A transient failure (object storage
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

  /**
   * Runs a command whose refusal means "nothing to do": the image was deleted meanwhile. A
   * concurrency conflict only says that another command changed the image first (the user's
   * metadata edit), so the command runs again on the new state.
   */
  async function record(run: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await run();
        return;
      } catch (error) {
        if (error instanceof ConcurrencyError && attempt < 5) continue;
        if (error instanceof ConflictError || error instanceof NotFoundError) return;
        throw error;
      }
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

  async function decode(fetched: Fetched): Promise<Decoded> {
    try {
      const upload = await decodeUpload(fetched.bytes, {
        ...model.decodeOptions,
        thumbnailSize: options.thumbnailSize,
      });
      const { grey } = upload;
      const localFeatures = grey
        ? await extractLocalFeatures(grey.data, grey.width, grey.height).catch((error: unknown) => {
            log.warn('local features failed', { imageId: fetched.job.event.data.imageId, error });
            return undefined;
          })
        : undefined;
      return {
        job: fetched.job,
        storage: fetched.storage,
        upload,
        ...(localFeatures ? { localFeatures } : {}),
      };
    } catch (error) {
      return { job: fetched.job, rejected: error instanceof Error ? error : new Error(String(error)) };
    }
  }

  /** Stores the thumbnail's object; content-addressed, so storing it again changes nothing. */
  async function storeThumbnail(item: DecodedOk): Promise<string> {
    const key = item.storage.thumbnailKeyOf(item.job.event.data.sha256, options.thumbnailSize);
    const { data, mime } = item.upload.thumbnail;
    await item.storage.store.put(item.storage.bucket, key, data, mime);
    return key;
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

  // Images of all partitions being consumed share the inference batches.
  const batcher = createInferenceBatcher<Buffer, Float32Array>({
    maxBatchSize: options.batchSize,
    // Enough images fetched and decoded ahead to fill the next batches while one runs.
    maxSeats: 4 * options.batchSize,
    maxWaitMs: options.batchWindowMs,
    run: async (pixels) => {
      const started = performance.now();
      const vectors = await model.embedDecoded(pixels);
      embeddingLatency.observe((performance.now() - started) / 1000);
      embeddingBatchSize.observe(pixels.length);
      return vectors;
    },
  });

  /** One upload: fetched and decoded, embedded in a shared batch, its results recorded. */
  async function process(job: Job): Promise<void> {
    const seat = await batcher.reserve();
    try {
      let fetched;
      try {
        fetched = await fetchImage(job);
      } catch (error) {
        seat.release();
        if (error instanceof PermanentFailure) await fail(job, error.message, false);
        else await deadLetter(job, `object storage kept failing: ${(error as Error).message}`);
        return;
      }
      const decoded = await decode(fetched);
      if ('rejected' in decoded) {
        seat.release();
        await withImageSpan(job, 0, () => fail(job, rejectionReason(decoded.rejected), false));
        return;
      }
      const { output, batchSize } = await seat.embed(decoded.upload.pixels);
      await withImageSpan(job, batchSize, () => recordEmbedding(decoded, output));
    } finally {
      seat.release();
    }
  }

  /** Each image's results continue the trace of its upload. */
  function withImageSpan(job: Job, batchSize: number, run: () => Promise<void>): Promise<void> {
    return withSpan(
      'embed image',
      {
        kind: SpanKind.CONSUMER,
        parent: traceContextOf(job.message.headers),
        attributes: { 'deeplens.image_id': job.event.data.imageId, 'deeplens.batch_size': batchSize },
      },
      run,
    );
  }

  async function recordEmbedding(item: DecodedOk, vector: Float32Array): Promise<void> {
    const { tenantId, imageId } = item.job.event.data;
    // The thumbnail's object first, then ONE command records the embedding and the thumbnail.
    // Without a stored thumbnail the embedding is still recorded; the step name in the
    // idempotency key says which, so a redelivery that stores it records just the thumbnail.
    const { width, height, mime } = item.upload.thumbnail;
    const thumbnail = await storeThumbnail(item).then(
      (objectKey) => ({ objectKey, width, height, mime }),
      (error: unknown) => {
        log.warn('thumbnail failed', { tenantId, imageId, error });
        return undefined;
      },
    );
    await record(() =>
      handler.handle(
        imageDecider,
        {
          type: 'RecordImageEmbedding',
          data: {
            tenantId,
            imageId,
            modelId,
            modelVersion,
            vector,
            perceptualHash: item.upload.perceptualHash,
            ...(item.localFeatures ? { localFeatures: item.localFeatures } : {}),
            ...(thumbnail ? { thumbnail } : {}),
          },
        },
        origin(imageId, thumbnail ? 'embedding+thumbnail' : 'embedding'),
        imageRules,
      ),
    );
    counts.embedded++;
    if (thumbnail) counts.thumbnails++;
    eventsApplied.inc({ consumer: 'embedder' });
    log.debug('image embedded', { tenantId, imageId, modelId, modelVersion });
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
        // Partitions are consumed side by side so that their images fill the batches together.
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 6,
        eachBatch: async (payload) => {
          const { batch } = payload;
          const resolveOffset = (offset: string) => payload.resolveOffset(offset);
          const heartbeat = () => payload.heartbeat();
          const isRunning = () => payload.isRunning();
          const isStale = () => payload.isStale();
          // Chunks of a partition's uploads run side by side (the batcher bounds how many images
          // are in flight); their offsets are resolved in order, each once its results are recorded.
          const chunks: { recorded: Promise<unknown>; lastOffset: string }[] = [];
          let pending: { job: Job; offset: string }[] = [];
          const submit = () => {
            if (pending.length === 0) return;
            const recorded = Promise.all(pending.map((p) => process(p.job)));
            recorded.catch(() => undefined); // awaited in order below
            chunks.push({ recorded, lastOffset: pending[pending.length - 1]!.offset });
            pending = [];
          };
          const flush = async () => {
            submit();
            for (const chunk of chunks.splice(0)) {
              await chunk.recorded;
              resolveOffset(chunk.lastOffset);
              await heartbeat();
            }
          };
          consumerLag.set(
            { group: groupId, topic: batch.topic, partition: String(batch.partition) },
            Number(batch.offsetLag()),
          );
          for (const message of batch.messages) {
            if (!isRunning() || isStale()) break;
            // Only uploads concern the embedder; the header spares decoding every other event.
            if (message.headers?.['event-type']?.toString() !== 'ImageUploaded') {
              if (pending.length === 0 && chunks.length === 0) resolveOffset(message.offset);
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
            if (pending.length >= options.batchSize) submit();
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
