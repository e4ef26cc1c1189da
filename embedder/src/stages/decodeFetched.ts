import { DeepLensError } from '@deeplens/platform/errors';
import type { Logger } from '@deeplens/platform/logger';
import type { DecodeImageOptions } from '../decodeImageRgb.ts';
import { decodeUpload, type DecodedUpload } from '../decodeUpload.ts';
import { extractLocalFeatures } from '../localFeatures.ts';

export type DecodeFetchedOptions = {
  /** The model's decode (`model.decodeOptions`). */
  decodeOptions: DecodeImageOptions;
  thumbnailSize: number;
  log: Logger;
  /** For the log only. */
  imageId: string;
  /** Where local features are found (`localFeaturesWorker.ts`); by default on this thread. */
  extractLocalFeatures?: (grey: Uint8Array, width: number, height: number) => Promise<Buffer>;
};

/**
 * An upload decoded once, for the model, the local features and the thumbnail; without
 * `localFeatures` (OpenCV failed on it) the embedding is still recorded. Or why it cannot be.
 */
export type DecodedImage =
  | { outcome: 'decoded'; upload: DecodedUpload; localFeatures?: Buffer }
  | { outcome: 'failed'; reason: string };

/** The reason an image is refused, as `ImageEmbeddingFailed` carries it: `corrupt: …`, `unsupported_format: …`. */
export function rejectionReason(error: unknown): string {
  if (error instanceof DeepLensError) {
    const reason = (error.detail as { reason?: unknown } | undefined)?.reason;
    return `${typeof reason === 'string' ? reason : error.code}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * The decode stage: bytes that are not an image we can decode are a final answer for the image
 * (`failed` with the reason, recorded as `ImageEmbeddingFailed`), never a crash or a retry.
 */
export async function decodeFetched(bytes: Buffer, options: DecodeFetchedOptions): Promise<DecodedImage> {
  const decoded = await decodeFetchedAhead(bytes, options);
  if (decoded.outcome === 'failed') return decoded;
  const localFeatures = await decoded.localFeatures;
  return { outcome: 'decoded', upload: decoded.upload, ...(localFeatures ? { localFeatures } : {}) };
}

/**
 * `decodeFetched` answering as soon as the image is decoded, its local features still being
 * found (in `extractLocalFeatures`'s thread): the model's pixels can go to inference meanwhile.
 * The promise never rejects; a failure is logged and answers undefined.
 */
export async function decodeFetchedAhead(
  bytes: Buffer,
  options: DecodeFetchedOptions,
): Promise<
  | { outcome: 'decoded'; upload: DecodedUpload; localFeatures: Promise<Buffer | undefined> }
  | { outcome: 'failed'; reason: string }
> {
  let upload: DecodedUpload;
  try {
    upload = await decodeUpload(bytes, { ...options.decodeOptions, thumbnailSize: options.thumbnailSize });
  } catch (error) {
    return { outcome: 'failed', reason: rejectionReason(error) };
  }
  const { grey } = upload;
  const localFeatures = grey
    ? (options.extractLocalFeatures ?? extractLocalFeatures)(grey.data, grey.width, grey.height).catch(
        (error: unknown) => {
          options.log.warn('local features failed', { imageId: options.imageId, error });
          return undefined;
        },
      )
    : Promise.resolve(undefined);
  return { outcome: 'decoded', upload, localFeatures };
}
