import type { Event } from './event.ts';
import type { ImageFields } from './imageFields.ts';

/** The image's fields as `imageFields` lists them, under its tenant and id. */
export type ImageUploaded = Event<'ImageUploaded', { tenantId: string; imageId: string } & ImageFields>;

/** The vector travels in the event (Avro `bytes`, float32 little-endian) so a replay needs no model. */
export type ImageEmbedded = Event<
  'ImageEmbedded',
  {
    tenantId: string;
    imageId: string;
    modelId: string;
    modelVersion: string;
    dim: number;
    vector: Float32Array;
    /**
     * 64-bit DCT perceptual hash (16 hex digits) of the pixels the vector was computed from;
     * absent (null when decoded) in events written before embedders computed it.
     */
    perceptualHash?: string | null;
    /**
     * Local features of the same decode for geometric verification (the blob of
     * `embedder/src/localFeatures.ts`); absent (null when decoded) in older events.
     */
    localFeatures?: Uint8Array | null;
  }
>;

export type ImageEmbeddingFailed = Event<
  'ImageEmbeddingFailed',
  {
    tenantId: string;
    imageId: string;
    modelId: string;
    modelVersion: string;
    reason: string;
    retriable: boolean;
  }
>;

export type ThumbnailGenerated = Event<
  'ThumbnailGenerated',
  { tenantId: string; imageId: string; objectKey: string; width: number; height: number; mime: string }
>;

/** The image's tags and attributes as they are after the update (not a patch). */
export type ImageMetadataUpdated = Event<
  'ImageMetadataUpdated',
  { tenantId: string; imageId: string; tags: string[]; attributes: Record<string, string> }
>;

/** `bytes` is what the tenant's usage gets back; the object goes when no other image shares it. */
export type ImageDeleted = Event<
  'ImageDeleted',
  { tenantId: string; imageId: string } & Pick<ImageFields, 'objectKey' | 'sha256' | 'bytes'>
>;

export type ImageEvent =
  | ImageUploaded
  | ImageEmbedded
  | ImageEmbeddingFailed
  | ThumbnailGenerated
  | ImageMetadataUpdated
  | ImageDeleted;
