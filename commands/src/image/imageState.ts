import { assertNever } from '@deeplens/events/assertNever';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import type { ImageFields } from '@deeplens/events/imageFields';

/** A model version the image was embedded with (the vector itself lives in the event only). */
export type ImageEmbeddingRef = { modelId: string; modelVersion: string };

/** What the rules need of the image's fields (`imageFields`): its object, size and metadata. */
export type UploadedImage = Pick<ImageFields, 'objectKey' | 'sha256' | 'bytes' | 'tags' | 'attributes'> & {
  status: 'active' | 'deleted';
  version: number;
  tenantId: string;
  imageId: string;
  embeddings: ImageEmbeddingRef[];
  /** Object keys of the thumbnails recorded so far. */
  thumbnails: string[];
};

export type ImageState = { status: 'initial'; version: number } | UploadedImage;

export function initialImageState(): ImageState {
  return { status: 'initial', version: 0 };
}

export function evolveImage(state: ImageState, event: ImageEvent): ImageState {
  const version = event.metadata.aggregateVersion;
  if (event.type === 'ImageUploaded') {
    const { tenantId, imageId, objectKey, sha256, bytes, tags, attributes } = event.data;
    return {
      status: 'active',
      version,
      tenantId,
      imageId,
      objectKey,
      sha256,
      bytes,
      tags,
      attributes,
      embeddings: [],
      thumbnails: [],
    };
  }
  if (state.status === 'initial') return { ...state, version };
  switch (event.type) {
    case 'ImageEmbedded': {
      const { modelId, modelVersion } = event.data;
      return { ...state, version, embeddings: [...state.embeddings, { modelId, modelVersion }] };
    }
    case 'ImageEmbeddingFailed':
      return { ...state, version };
    case 'ThumbnailGenerated':
      return { ...state, version, thumbnails: [...state.thumbnails, event.data.objectKey] };
    case 'ImageMetadataUpdated':
      return { ...state, version, tags: event.data.tags, attributes: event.data.attributes };
    case 'ImageDeleted':
      return { ...state, version, status: 'deleted' };
    default:
      return assertNever(event, 'image event');
  }
}
