import type { KafkaMessage } from 'kafkajs';
import type { CommandHandler } from '@deeplens/commands/commandHandler';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { TenantState } from '@deeplens/commands/tenant/tenantState';
import type { DeepLensEvent } from '@deeplens/events/domainEvent';
import type { EventSerde } from '@deeplens/events/eventSerde';
import type { ImageUploaded } from '@deeplens/events/imageEvents';
import type { ConsumedRecord, ConsumerBatch } from '@deeplens/platform/consumerRuntime';
import type { Logger } from '@deeplens/platform/logger';
import { isRetriableError } from '@deeplens/platform/retriableErrors';
import { SpanKind, traceContextOf, withSpan } from '@deeplens/platform/telemetry';
import type { TenantStorage, TenantWithStorage } from '@deeplens/platform/tenantStorage';
import { createLocalFeaturesWorker } from './localFeaturesWorker.ts';
import type { EmbeddingModel } from './onnxEmbeddingModel.ts';
import { decodeFetchedAhead } from './stages/decodeFetched.ts';
import { fetchUpload } from './stages/fetchUpload.ts';
import { createInferStage } from './stages/inferBatched.ts';
import { createRecordStage } from './stages/recordResult.ts';

export type EmbedderHandlerOptions = {
  serde: EventSerde;
  handler: CommandHandler;
  model: EmbeddingModel;
  storageOf: (tenant: TenantWithStorage) => TenantStorage;
  log: Logger;
  batchSize: number;
  batchWindowMs: number;
  thumbnailSize: number;
};

/** Results recorded of a batch whose other records failed, while the runtime tries it again. */
const rememberedAtMost = 10_000;

const addressOf = (r: ConsumedRecord<unknown>) => `${r.topic}:${r.partition}:${r.offset}`;

/**
 * The embedder's decisions, for the consumer runtime. Only `ImageUploaded` records are its
 * business (`accept` reads the `event-type` header, sparing the decoding of every other event);
 * each upload goes through four stages: **fetch** (`stages/fetchUpload.ts`), **decode**
 * (`stages/decodeFetched.ts`), **infer** (`stages/inferBatched.ts`, batches shared by every
 * partition being consumed) and **record** (`stages/recordResult.ts`, `ImageEmbedded` +
 * `ThumbnailGenerated`, or `ImageEmbeddingFailed` with the reason, through the write side).
 * The uploads of a batch run side by side; a failure of one (a dependency down) is thrown for
 * the runtime after the others are recorded, and those are not redone when it tries again.
 */
export function createEmbedderHandler(options: EmbedderHandlerOptions) {
  const { handler, model, log, serde } = options;
  const counts = { embedded: 0, failed: 0, thumbnails: 0 };
  const infer = createInferStage({
    embed: (pixels) => model.embedDecoded(pixels),
    batchSize: options.batchSize,
    batchWindowMs: options.batchWindowMs,
  });
  const record = createRecordStage({
    handler,
    model: model.manifest,
    thumbnailSize: options.thumbnailSize,
    log,
  });
  /**
   * A tenant is loaded once per batch of records (most batches are one tenant's uploads): its
   * state only decides whether the tenant still exists and where its objects are, and the
   * record stage's commands check the image itself.
   */
  let tenants = new Map<string, Promise<TenantState>>();
  const loadTenant = (tenantId: string) => {
    let tenant = tenants.get(tenantId);
    if (!tenant) {
      tenant = handler.load(tenantDecider, tenantId);
      tenants.set(tenantId, tenant);
      // A failed load (PostgreSQL down) is not kept for the batch's other images.
      tenant.catch(() => tenants.delete(tenantId));
    }
    return tenant;
  };
  const recorded = new Set<string>();
  // OpenCV's WebAssembly off the main thread, which decodes, batches and records meanwhile.
  const localFeatures = createLocalFeaturesWorker();

  /** Each image's results continue the trace of its upload. */
  function withImageSpan(upload: ConsumedRecord<ImageUploaded>, batchSize: number, run: () => Promise<void>) {
    return withSpan(
      'embed image',
      {
        kind: SpanKind.CONSUMER,
        parent: traceContextOf(upload.headers),
        attributes: { 'deeplens.image_id': upload.value.data.imageId, 'deeplens.batch_size': batchSize },
      },
      run,
    );
  }

  /** One upload: fetched and decoded, embedded in a shared batch, its result recorded. */
  async function embed(upload: ConsumedRecord<ImageUploaded>): Promise<void> {
    const uploaded = upload.value;
    const seat = await infer.reserve();
    const fail = async (reason: string) => {
      seat.release();
      await withImageSpan(upload, 0, () => record.failed(uploaded, reason));
      counts.failed++;
    };
    try {
      const fetched = await fetchUpload(uploaded, { loadTenant, storageOf: options.storageOf });
      if (fetched.outcome === 'failed') return await fail(fetched.reason);
      const decoded = await decodeFetchedAhead(fetched.bytes, {
        decodeOptions: model.decodeOptions,
        thumbnailSize: options.thumbnailSize,
        log,
        imageId: uploaded.data.imageId,
        extractLocalFeatures: (grey, width, height) => localFeatures.extract(grey, width, height),
      });
      if (decoded.outcome === 'failed') return await fail(decoded.reason);
      const image = { upload: decoded.upload, storage: fetched.storage };
      // Stored while the image waits for its batch, so the batch's results are recorded together.
      const storedThumbnail = record.storeThumbnail(uploaded, image);
      // Inference goes ahead while the local features are found in their thread.
      const { output, batchSize } = await seat.embed(decoded.upload.pixels);
      const features = await decoded.localFeatures;
      await withImageSpan(upload, batchSize, async () => {
        const { thumbnail } = await record.embedded(
          uploaded,
          { ...image, ...(features ? { localFeatures: features } : {}) },
          output,
          storedThumbnail,
        );
        counts.embedded++;
        if (thumbnail) counts.thumbnails++;
      });
    } finally {
      seat.release();
    }
  }

  return {
    counts,
    /** Stops the local features thread (an idle one does not keep the process alive anyway). */
    close: () => localFeatures.close(),
    /** The consumer runtime's `accept`: uploads only, by the `event-type` header. */
    accept: (message: KafkaMessage): boolean =>
      message.headers?.['event-type']?.toString() === 'ImageUploaded',
    /** The consumer runtime's `decode`: the one serde. */
    read: (value: Buffer): Promise<DeepLensEvent> => serde.decodeEvent(value),
    /** The consumer runtime's `handle`: embeds every upload of the batch; other events are not ours. */
    handle: async (batch: ConsumerBatch<DeepLensEvent>): Promise<void> => {
      const uploads = batch.records.filter(
        (r): r is ConsumedRecord<ImageUploaded> =>
          r.value.type === 'ImageUploaded' && !recorded.has(addressOf(r)),
      );
      tenants = new Map();
      const results = await Promise.allSettled(uploads.map(embed));
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (failures.length === 0) {
        for (const r of batch.records) recorded.delete(addressOf(r));
        return;
      }
      if (recorded.size > rememberedAtMost) recorded.clear();
      uploads.forEach((upload, i) => {
        if (results[i]?.status === 'fulfilled') recorded.add(addressOf(upload));
      });
      // A record's own failure first: the runtime then takes the batch one record at a time.
      throw failures.find((error) => !isRetriableError(error)) ?? failures[0];
    },
  };
}

export type EmbedderHandler = ReturnType<typeof createEmbedderHandler>;
