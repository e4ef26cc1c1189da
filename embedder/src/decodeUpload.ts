/**
 * Decodes an upload once for everything the embedder makes of it: the model's pixels, the
 * greyscale copy its local features are found on, and the thumbnail. The image is decoded
 * (upright, sRGB) to one raw buffer, no larger than all three need where sharp can shrink while
 * loading, and each is resized from that buffer. `decodeForSearch` is the same decode for a
 * query image (no thumbnail).
 */
import sharp from 'sharp';
import type { DecodeImageOptions } from './decodeImageRgb.ts';
import { assertModelPixels, inspectImage, rejection } from './decodeImageRgb.ts';
import { LOCAL_FEATURE_SIZE } from './localFeatures.ts';
import { perceptualHash } from './perceptualHash.ts';

export interface DecodeForSearchOptions extends DecodeImageOptions {
  /**
   * The greyscale copy for local features fits in `featureSize × featureSize`, never enlarged;
   * 0 for none. Default `LOCAL_FEATURE_SIZE`.
   */
  featureSize?: number;
}

export interface DecodeUploadOptions extends DecodeForSearchOptions {
  /** The thumbnail fits in `thumbnailSize × thumbnailSize`, never enlarged. */
  thumbnailSize: number;
}

/** One byte per pixel, row-major. */
export type GreyImage = { data: Buffer; width: number; height: number };

export type DecodedForSearch = {
  /** What `decodeImageRgb` returns for the same bytes: `width × height × 3`, RGB, HWC. */
  pixels: Buffer;
  /** `perceptualHash` of `pixels`: the same decode. */
  perceptualHash: string;
  /** The copy local features are found on (transparency on white); null when `featureSize` is 0. */
  grey: GreyImage | null;
};

export type DecodedUpload = DecodedForSearch & {
  thumbnail: { data: Buffer; width: number; height: number; mime: 'image/webp' };
};

/** Throws `UnsupportedImageError` or `UnprocessableImageError` with a `reason`, as `decodeImageRgb`. */
export async function decodeUpload(bytes: Uint8Array, options: DecodeUploadOptions): Promise<DecodedUpload> {
  const { thumbnail, ...rest } = await decodeOnce(bytes, options, options.thumbnailSize);
  return { ...rest, thumbnail: thumbnail! };
}

/** A query image's decode: the model's pixels, its hash and the greyscale copy, from one decode. */
export async function decodeForSearch(
  bytes: Uint8Array,
  options: DecodeForSearchOptions,
): Promise<DecodedForSearch> {
  const { thumbnail: _none, ...rest } = await decodeOnce(bytes, options, 0);
  return rest;
}

async function decodeOnce(
  bytes: Uint8Array,
  options: DecodeForSearchOptions,
  thumbnailSize: number,
): Promise<DecodedForSearch & { thumbnail?: DecodedUpload['thumbnail'] }> {
  const featureSize = options.featureSize ?? LOCAL_FEATURE_SIZE;
  const header = await inspectImage(bytes, options.maxInputPixels);
  const scale = sharedScale(header, { ...options, thumbnailSize, featureSize });
  let decoded: { data: Buffer; info: sharp.OutputInfo };
  try {
    let image = sharp(bytes, { limitInputPixels: header.maxInputPixels }).rotate();
    // sharp shrinks a JPEG while loading only when it shrinks by 3 or more (a shrink in [2, 3)
    // decodes at full size to dodge libjpeg rounding), so below that the full image is the
    // cheapest start; above, one resize to the larger need lets it shrink on load.
    if (scale <= 1 / 3) {
      image = image.resize(Math.ceil(header.width * scale), Math.ceil(header.height * scale), {
        fit: 'fill',
      });
    }
    decoded = await image.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw rejection(cause, header.format);
  }
  const { width, height, channels } = decoded.info;
  const raw = { raw: { width, height, channels: channels as 3 | 4 } };
  const [model, grey, thumbnail] = await Promise.all([
    sharp(decoded.data, raw)
      .flatten({ background: '#ffffff' })
      .resize(options.width, options.height, { fit: options.resize, position: 'centre' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true }),
    featureSize > 0
      ? sharp(decoded.data, raw)
          .flatten({ background: '#ffffff' })
          .resize(featureSize, featureSize, { fit: 'inside', withoutEnlargement: true })
          .greyscale()
          .raw()
          .toBuffer({ resolveWithObject: true })
      : null,
    thumbnailSize > 0
      ? sharp(decoded.data, raw)
          .resize(thumbnailSize, thumbnailSize, { fit: 'inside', withoutEnlargement: true })
          // Effort 2 of 6: half the encoding time of the default 4 for about 1% more bytes.
          .webp({ quality: 80, effort: 2 })
          .toBuffer({ resolveWithObject: true })
      : null,
  ]).catch((cause: unknown) => {
    throw rejection(cause, header.format);
  });
  assertModelPixels(model.info, options);
  return {
    pixels: model.data,
    perceptualHash: perceptualHash(model.data, options.width, options.height),
    grey: grey && greyImage(grey),
    ...(thumbnail
      ? {
          thumbnail: {
            data: thumbnail.data,
            width: thumbnail.info.width,
            height: thumbnail.info.height,
            mime: 'image/webp' as const,
          },
        }
      : {}),
  };
}

/** sharp's greyscale output as one byte per pixel (it keeps an alpha channel if there is one). */
function greyImage({ data, info }: { data: Buffer; info: sharp.OutputInfo }): GreyImage {
  const { width, height, channels } = info;
  if (channels === 1) return { data, width, height };
  const one = Buffer.allocUnsafe(width * height);
  for (let i = 0; i < one.length; i++) one[i] = data[i * channels]!;
  return { data: one, width, height };
}

/**
 * The smallest scale (at most 1) of the upright image that still has every pixel the model's
 * input and the thumbnail need.
 */
export function sharedScale(image: { width: number; height: number }, options: DecodeUploadOptions): number {
  const { width, height } = image;
  // Both `fill` and `cover` need the model's height and width in full.
  const model = Math.max(options.width / width, options.height / height);
  const thumbnail = Math.min(options.thumbnailSize / width, options.thumbnailSize / height);
  const featureSize = options.featureSize ?? LOCAL_FEATURE_SIZE;
  const features = Math.min(featureSize / width, featureSize / height);
  return Math.min(1, Math.max(model, thumbnail, features));
}
