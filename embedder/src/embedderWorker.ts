import type { Kafka } from 'kafkajs';
import type { CommandHandler } from '@deeplens/commands/commandHandler';
import type { DeepLensEvent } from '@deeplens/events/domainEvent';
import type { EventSerde } from '@deeplens/events/eventSerde';
import { topics } from '@deeplens/events/topics';
import { startConsumerRuntime, type ConsumerRuntime } from '@deeplens/platform/consumerRuntime';
import type { Logger } from '@deeplens/platform/logger';
import type { TenantStorage, TenantWithStorage } from '@deeplens/platform/tenantStorage';
import { createEmbedderHandler } from './embedderHandler.ts';
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
  /** Attempts at a transient failure (object storage or PostgreSQL down) before Kafka redelivers. */
  maxAttempts: number;
  thumbnailSize: number;
  /** Partitions whose records are embedded at the same time, sharing batches. Default 6. */
  partitionsConsumedConcurrently?: number;
  topic?: string;
  dlqTopic?: string;
  groupId?: string;
  /** Where a new consumer group starts, per partition (tests start at the topic's current end). */
  startAt?: { partition: number; offset: string }[];
  /** Backoff between attempts (the consumer runtime's default: 200 ms doubling to 5 s). */
  backoff?: { initialMs: number; maxMs: number };
};

/**
 * The embedder on the consumer runtime: turns every `ImageUploaded` into `ImageEmbedded` (or
 * `ImageEmbeddingFailed` with the reason) and a `ThumbnailGenerated`, recorded through the write
 * side (`embedderHandler.ts` holds the decisions, `stages/` the fetch, decode, infer and record
 * stages). Partitions are consumed side by side, their uploads sharing inference batches; each
 * hands over at most 4 × `batchSize` uploads at a time (as many as the batcher lets be in flight),
 * committed once their results are recorded.
 * A transient failure (object storage or PostgreSQL down) is retried with backoff, then given
 * back to Kafka (never dead-lettered); an undecodable record, or one that fails for a reason of
 * its own, goes to the dead-letter topic with the reason headers and the partition moves on.
 * Commands carry idempotency keys derived from the image and the model version, so a
 * redelivered record changes nothing twice.
 */
export function createEmbedderWorker(options: EmbedderOptions) {
  const { modelId, modelVersion } = options.model.manifest;
  const embedder = createEmbedderHandler(options);
  const startAt = options.startAt;
  let runtime: ConsumerRuntime | undefined;
  return {
    /** Images embedded, failed (recorded as such), thumbnails recorded and records dead-lettered since start. */
    get counts() {
      return { ...embedder.counts, deadLettered: runtime?.deadLettered ?? 0 };
    },
    async start(): Promise<void> {
      runtime = await startConsumerRuntime<DeepLensEvent>({
        name: 'embedder',
        kafka: options.kafka,
        groupId: options.groupId ?? `deeplens-embedder-${modelId}@${modelVersion}`,
        topics: [options.topic ?? topics.image],
        log: options.log,
        accept: embedder.accept,
        decode: embedder.read,
        handle: embedder.handle,
        onUndecodable: 'dead-letter',
        onFailure: 'dead-letter',
        deadLetterTopic: options.dlqTopic ?? topics.embedderDlq,
        whenRetriesRunOut: 'redeliver',
        maxAttempts: options.maxAttempts,
        ...(options.backoff ? { backoff: options.backoff } : {}),
        maxRecordsPerBatch: 4 * options.batchSize,
        // Partitions are consumed side by side so that their images fill the batches together.
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 6,
        maxWaitTimeInMs: options.batchWindowMs,
        ...(startAt
          ? {
              startOffset: (_topic: string, partition: number) => {
                const at = startAt.find((p) => p.partition === partition);
                return Promise.resolve(at ? Number(at.offset) : undefined);
              },
            }
          : {}),
      });
    },
    async stop(): Promise<void> {
      await runtime?.stop();
    },
  };
}
