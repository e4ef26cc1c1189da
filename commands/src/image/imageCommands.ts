import type { ImageFields } from '@deeplens/events/imageFields';
import type { TenantLimits } from '@deeplens/events/tenantEvents';
import type { Command } from '../command.ts';
import type { TenantStatus } from '../tenant/tenantState.ts';

/** The tenant as the handler read it just before deciding an upload. */
export type TenantSnapshot = { status: TenantStatus; limits: TenantLimits };

/**
 * The image's fields (`imageFields`), and the tenant as the handler read it. What the tenant
 * already stores is not part of it: the write model counts that (`imageRules.usage`).
 */
export type UploadImage = Command<
  'UploadImage',
  {
    tenantId: string;
    /** Chosen by the handler (a fresh UUID). */
    imageId: string;
    tenant: TenantSnapshot;
  } & ImageFields
>;

/** A stored thumbnail's object and size. */
export type ThumbnailDraft = { objectKey: string; width: number; height: number; mime: string };

/**
 * The embedder's result; `dim` is the vector's length. With `thumbnail`, the thumbnail made
 * from the same decode is recorded in the same decision (one write instead of two).
 */
export type RecordImageEmbedding = Command<
  'RecordImageEmbedding',
  {
    tenantId: string;
    imageId: string;
    modelId: string;
    modelVersion: string;
    vector: Float32Array;
    /** The 64-bit perceptual hash of the same decoded pixels, 16 hex digits. */
    perceptualHash?: string;
    /** Local features of the same decode (embedder/src/localFeatures.ts), at most 64 KiB. */
    localFeatures?: Uint8Array;
    thumbnail?: ThumbnailDraft;
  }
>;

export type RecordImageEmbeddingFailure = Command<
  'RecordImageEmbeddingFailure',
  {
    tenantId: string;
    imageId: string;
    modelId: string;
    modelVersion: string;
    reason: string;
    retriable: boolean;
  }
>;

export type RecordThumbnail = Command<
  'RecordThumbnail',
  { tenantId: string; imageId: string } & ThumbnailDraft
>;

/** Absent parts stay as they are; a given part replaces the old one. */
export type UpdateImageMetadata = Command<
  'UpdateImageMetadata',
  { tenantId: string; imageId: string; tags?: string[]; attributes?: Record<string, string> }
>;

export type DeleteImage = Command<'DeleteImage', { tenantId: string; imageId: string }>;

/** Every image command names the caller's tenant: another tenant's image answers NotFoundError. */
export type ImageCommand =
  | UploadImage
  | RecordImageEmbedding
  | RecordImageEmbeddingFailure
  | RecordThumbnail
  | UpdateImageMetadata
  | DeleteImage;
