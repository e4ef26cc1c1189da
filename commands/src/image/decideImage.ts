import { assertNever } from '@deeplens/events/assertNever';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import { imageFieldsOf } from '@deeplens/events/imageFields';
import {
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '@deeplens/platform/errors';
import type { CommandContext } from '../commandContext.ts';
import { emitEvents, type EventDraft } from '../emitEvents.ts';
import type { ImageCommand, TenantSnapshot, UploadImage } from './imageCommands.ts';
import type { ImageState, UploadedImage } from './imageState.ts';

/**
 * An image's rules. Uploads are checked against the tenant snapshot the handler read (status,
 * the size of one image); the tenant's totals are counted by the write model's usage rule.
 * Idempotency keys are the write model's concern. Results of background work (embeddings,
 * thumbnails) are idempotent: recording the same one again changes nothing.
 */
export function decideImage(command: ImageCommand, state: ImageState): ImageEvent[] {
  const { data, metadata: context } = command;
  if (command.type === 'UploadImage') return upload(command, state);

  // Another tenant's image answers as if it did not exist, so existence never leaks.
  if (state.status === 'initial' || state.tenantId !== data.tenantId) {
    throw new NotFoundError(`Image ${data.imageId} not found`, { detail: { imageId: data.imageId } });
  }
  if (state.status === 'deleted') {
    if (command.type === 'DeleteImage') return [];
    throw new ConflictError(`Image ${state.imageId} is deleted`, { detail: { imageId: state.imageId } });
  }

  const { tenantId, imageId } = state;
  switch (command.type) {
    case 'RecordImageEmbedding': {
      const { modelId, modelVersion, vector, perceptualHash, localFeatures, thumbnail } = command.data;
      const drafts: EventDraft<ImageEvent>[] = [];
      if (!hasEmbedding(state, modelId, modelVersion)) {
        if (vector.length === 0 || !vector.every(Number.isFinite)) {
          throw new ValidationError('An embedding is a non-empty vector of finite numbers');
        }
        if (perceptualHash !== undefined && !/^[0-9a-f]{16}$/.test(perceptualHash)) {
          throw new ValidationError('A perceptual hash is 16 lowercase hex digits (64 bits)');
        }
        if (localFeatures !== undefined && localFeatures.byteLength > 65_536) {
          throw new ValidationError('Local features are at most 64 KiB');
        }
        drafts.push({
          type: 'ImageEmbedded',
          data: {
            tenantId,
            imageId,
            modelId,
            modelVersion,
            dim: vector.length,
            vector,
            ...(perceptualHash === undefined ? {} : { perceptualHash }),
            ...(localFeatures === undefined ? {} : { localFeatures }),
          },
        });
      }
      if (thumbnail && !state.thumbnails.includes(thumbnail.objectKey)) {
        assertDimensions(thumbnail.width, thumbnail.height);
        drafts.push({ type: 'ThumbnailGenerated', data: { tenantId, imageId, ...thumbnail } });
      }
      return drafts.length === 0 ? [] : emit(context, state, drafts);
    }
    case 'RecordImageEmbeddingFailure': {
      const { modelId, modelVersion, reason, retriable } = command.data;
      // A failure reported after that model version succeeded is stale.
      if (hasEmbedding(state, modelId, modelVersion)) return [];
      return emit(context, state, [
        {
          type: 'ImageEmbeddingFailed',
          data: { tenantId, imageId, modelId, modelVersion, reason, retriable },
        },
      ]);
    }
    case 'RecordThumbnail': {
      const { objectKey, width, height, mime } = command.data;
      if (state.thumbnails.includes(objectKey)) return [];
      assertDimensions(width, height);
      return emit(context, state, [
        { type: 'ThumbnailGenerated', data: { tenantId, imageId, objectKey, width, height, mime } },
      ]);
    }
    case 'UpdateImageMetadata': {
      const { tags = state.tags, attributes = state.attributes } = command.data;
      if (sameTags(tags, state.tags) && sameAttributes(attributes, state.attributes)) return [];
      return emit(context, state, [
        { type: 'ImageMetadataUpdated', data: { tenantId, imageId, tags, attributes } },
      ]);
    }
    case 'DeleteImage': {
      const { objectKey, sha256, bytes } = state;
      return emit(context, state, [
        { type: 'ImageDeleted', data: { tenantId, imageId, objectKey, sha256, bytes } },
      ]);
    }
    default:
      return assertNever(command, 'image command');
  }
}

/**
 * The largest image, in bytes, a tenant's plan takes: the rule `UploadImage` is decided by. An
 * upload route reads it from here to stop receiving a file the moment it is over, rather than
 * buffer it to be refused (the route does not check sizes of its own).
 */
export function largestImageBytes(tenant: Pick<TenantSnapshot, 'limits'>): number {
  return tenant.limits.maxImageBytes;
}

function upload(command: UploadImage, state: ImageState): ImageEvent[] {
  const { tenant, ...image } = command.data;
  if (state.status !== 'initial') throw new ConflictError(`Image ${image.imageId} already exists`);
  if (tenant.status === 'deleted') throw new NotFoundError(`Tenant ${image.tenantId} not found`);
  if (tenant.status === 'suspended') {
    throw new ConflictError(`Tenant ${image.tenantId} is suspended and cannot upload`);
  }

  if (!/^[0-9a-f]{64}$/.test(image.sha256))
    throw new ValidationError('sha256 must be lower-case hex SHA-256');
  if (image.objectKey === '') throw new ValidationError('An image needs an object key');
  if (!Number.isSafeInteger(image.bytes) || image.bytes <= 0) {
    throw new ValidationError('An image has a positive number of bytes');
  }
  assertDimensions(image.width, image.height);

  // The tenant's totals (images, bytes) are the write model's rule (`imageRules.usage`): counted
  // exactly, in the transaction that stores the upload, where no concurrent upload can race them.
  const limit = largestImageBytes(tenant);
  if (image.bytes > limit) {
    throw new PayloadTooLargeError(
      `The image is ${image.bytes} bytes; the plan allows ${limit} bytes per image`,
      { detail: { limit, bytes: image.bytes } },
    );
  }
  return emit(
    command.metadata,
    { tenantId: image.tenantId, imageId: image.imageId, version: state.version },
    [
      {
        type: 'ImageUploaded',
        data: { tenantId: image.tenantId, imageId: image.imageId, ...imageFieldsOf(image) },
      },
    ],
  );
}

function emit(
  context: CommandContext,
  { tenantId, imageId, version }: Pick<UploadedImage, 'tenantId' | 'imageId' | 'version'>,
  drafts: Array<EventDraft<ImageEvent>>,
): ImageEvent[] {
  return emitEvents<ImageEvent>(context, { aggregateId: imageId, tenantId, version }, drafts);
}

function hasEmbedding(state: UploadedImage, modelId: string, modelVersion: string): boolean {
  return state.embeddings.some((e) => e.modelId === modelId && e.modelVersion === modelVersion);
}

function assertDimensions(width: number, height: number): void {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width <= 0 || height <= 0) {
    throw new ValidationError(`Width and height are positive integers, got ${width}×${height}`);
  }
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((tag, i) => tag === b[i]);
}

function sameAttributes(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key])
  );
}
