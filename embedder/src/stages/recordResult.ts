import type { CommandHandler } from '@deeplens/commands/commandHandler';
import { imageAggregate } from '@deeplens/commands/writeModelRules';
import type { ImageUploaded } from '@deeplens/events/imageEvents';
import { ConcurrencyError, ConflictError, NotFoundError } from '@deeplens/platform/errors';
import type { Logger } from '@deeplens/platform/logger';
import type { TenantStorage } from '@deeplens/platform/tenantStorage';
import type { DecodedUpload } from '../decodeUpload.ts';

/** Which result a command records; part of its idempotency key, so a redelivery changes nothing twice. */
export type RecordStep = 'failure' | 'embedding' | 'embedding+thumbnail';

/**
 * The origin of the embedder's commands: the idempotency key is derived from the image, the
 * model version and the step, so the same result recorded again (a redelivered record) is
 * answered from the first time.
 */
export function embedderOrigin(
  imageId: string,
  model: { modelId: string; modelVersion: string },
  step: RecordStep,
) {
  return {
    actor: 'system:embedder' as const,
    causationId: imageId,
    idempotency: { scope: 'embedder', key: `${imageId}:${model.modelId}@${model.modelVersion}:${step}` },
  };
}

/**
 * Runs a command whose refusal means "nothing to do": the image was deleted meanwhile
 * (`ConflictError`, `NotFoundError`). A concurrency conflict only says that another command
 * changed the image first (the user's metadata edit), so the command runs again on the new
 * state, up to `attempts` times. Anything else is thrown for the consumer runtime.
 */
export async function runIgnoringRefusal(
  run: () => Promise<unknown>,
  attempts = 5,
): Promise<'recorded' | 'refused'> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run();
      return 'recorded';
    } catch (error) {
      if (error instanceof ConcurrencyError && attempt < attempts) continue;
      if (error instanceof ConflictError || error instanceof NotFoundError) return 'refused';
      throw error;
    }
  }
}

export type RecordResultOptions = {
  handler: Pick<CommandHandler, 'handle'>;
  model: { modelId: string; modelVersion: string };
  thumbnailSize: number;
  log: Logger;
};

/**
 * The record stage: the image's result through the write side (today's command path).
 * `embedded` stores the thumbnail's object first (content addressed: storing it again changes
 * nothing), then ONE `RecordImageEmbedding` records the embedding and the thumbnail together;
 * without a stored thumbnail the embedding is still recorded, and the step in the idempotency
 * key says which, so a redelivery that stores it records just the thumbnail. `failed` records
 * `ImageEmbeddingFailed` with the reason (not retriable: the same bytes fail the same way).
 */
export function createRecordStage({ handler, model, thumbnailSize, log }: RecordResultOptions) {
  const { modelId, modelVersion } = model;
  return {
    async embedded(
      uploaded: ImageUploaded,
      image: { storage: TenantStorage; upload: DecodedUpload; localFeatures?: Buffer },
      vector: Float32Array,
    ): Promise<{ thumbnail: boolean }> {
      const { tenantId, imageId, sha256 } = uploaded.data;
      const { storage, upload } = image;
      const { data, width, height, mime } = upload.thumbnail;
      const objectKey = storage.thumbnailKeyOf(sha256, thumbnailSize);
      const thumbnail = await storage.store.put(storage.bucket, objectKey, data, mime).then(
        () => ({ objectKey, width, height, mime }),
        (error: unknown) => {
          log.warn('thumbnail failed', { tenantId, imageId, error });
          return undefined;
        },
      );
      await runIgnoringRefusal(() =>
        handler.handle(
          imageAggregate,
          {
            type: 'RecordImageEmbedding',
            data: {
              tenantId,
              imageId,
              modelId,
              modelVersion,
              vector,
              perceptualHash: upload.perceptualHash,
              ...(image.localFeatures ? { localFeatures: image.localFeatures } : {}),
              ...(thumbnail ? { thumbnail } : {}),
            },
          },
          embedderOrigin(imageId, model, thumbnail ? 'embedding+thumbnail' : 'embedding'),
        ),
      );
      log.debug('image embedded', { tenantId, imageId, modelId, modelVersion });
      return { thumbnail: thumbnail !== undefined };
    },

    async failed(uploaded: ImageUploaded, reason: string): Promise<void> {
      const { tenantId, imageId } = uploaded.data;
      await runIgnoringRefusal(() =>
        handler.handle(
          imageAggregate,
          {
            type: 'RecordImageEmbeddingFailure',
            data: { tenantId, imageId, modelId, modelVersion, reason, retriable: false },
          },
          embedderOrigin(imageId, model, 'failure'),
        ),
      );
      log.warn('image embedding failed', { tenantId, imageId, reason });
    },
  };
}

export type RecordStage = ReturnType<typeof createRecordStage>;
