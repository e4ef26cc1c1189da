import type { CommandHandler, CommandOrigin } from '@deeplens/commands/commandHandler';
import type { RecordImageEmbedding } from '@deeplens/commands/image/imageCommands';
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
  handler: Pick<CommandHandler, 'handle' | 'handleGroup'>;
  model: { modelId: string; modelVersion: string };
  thumbnailSize: number;
  log: Logger;
  /** At most this many embeddings recorded in one transaction. Default 64. */
  maxGroup?: number;
};

/** A stored thumbnail as `RecordImageEmbedding` carries it. */
export type StoredThumbnail = { objectKey: string; width: number; height: number; mime: 'image/webp' };

type EmbeddingCommand = {
  request: Pick<RecordImageEmbedding, 'type' | 'data'>;
  origin: CommandOrigin;
};
type QueuedEmbedding = {
  command: EmbeddingCommand;
  resolve: (answer: PromiseSettledResult<unknown>) => void;
};

/**
 * The record stage: the image's result through the write side. `embedded` stores the
 * thumbnail's object first (content addressed: storing it again changes nothing;
 * `storeThumbnail` does it ahead, while the image waits for its inference batch), then ONE
 * `RecordImageEmbedding` records the embedding and the thumbnail together; without a stored
 * thumbnail the embedding is still recorded, and the step in the idempotency key says which,
 * so a redelivery that stores it records just the thumbnail. The embeddings that arrive
 * together (the images of one inference batch) are recorded as one group (`handleGroup`: one
 * transaction, one outbox write), each still with its own idempotency key and its own answer;
 * a concurrency conflict runs that image's command again alone. `failed` records
 * `ImageEmbeddingFailed` with the reason (not retriable: the same bytes fail the same way).
 */
export function createRecordStage({
  handler,
  model,
  thumbnailSize,
  log,
  maxGroup = 64,
}: RecordResultOptions) {
  const { modelId, modelVersion } = model;
  const queue: QueuedEmbedding[] = [];
  let flushing = false;

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const group = queue.splice(0, maxGroup);
      const answers = await handler
        .handleGroup(
          imageAggregate,
          group.map((q) => q.command),
        )
        .catch((error: unknown) =>
          group.map((): PromiseSettledResult<unknown> => ({ status: 'rejected', reason: error })),
        );
      group.forEach((q, i) => q.resolve(answers[i]!));
    }
    flushing = false;
  }

  /** The command's first run, in the next group: resolves or rejects as `handle` would. */
  function inGroup(command: EmbeddingCommand): Promise<unknown> {
    return new Promise<PromiseSettledResult<unknown>>((resolve) => {
      queue.push({ command, resolve });
      if (flushing) return;
      flushing = true;
      // The images of a batch resolve in the same turn: they join this group.
      setImmediate(() => void flush());
    }).then((answer) => {
      // The error `handle` would have thrown, as it is.
      if (answer.status === 'rejected') throw answer.reason;
      return answer.value;
    });
  }

  async function storeThumbnail(
    uploaded: ImageUploaded,
    image: { storage: TenantStorage; upload: DecodedUpload },
  ): Promise<StoredThumbnail | undefined> {
    const { tenantId, imageId, sha256 } = uploaded.data;
    const { storage, upload } = image;
    const { data, width, height, mime } = upload.thumbnail;
    const objectKey = storage.thumbnailKeyOf(sha256, thumbnailSize);
    return storage.store.put(storage.bucket, objectKey, data, mime).then(
      () => ({ objectKey, width, height, mime }),
      (error: unknown) => {
        log.warn('thumbnail failed', { tenantId, imageId, error });
        return undefined;
      },
    );
  }

  return {
    storeThumbnail,

    async embedded(
      uploaded: ImageUploaded,
      image: { storage: TenantStorage; upload: DecodedUpload; localFeatures?: Buffer },
      vector: Float32Array,
      storedThumbnail?: Promise<StoredThumbnail | undefined>,
    ): Promise<{ thumbnail: boolean }> {
      const { tenantId, imageId } = uploaded.data;
      const { upload } = image;
      const thumbnail = await (storedThumbnail ?? storeThumbnail(uploaded, image));
      const command: EmbeddingCommand = {
        request: {
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
        origin: embedderOrigin(imageId, model, thumbnail ? 'embedding+thumbnail' : 'embedding'),
      };
      let first = true;
      await runIgnoringRefusal(() => {
        if (!first) return handler.handle(imageAggregate, command.request, command.origin);
        first = false;
        return inGroup(command);
      });
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
