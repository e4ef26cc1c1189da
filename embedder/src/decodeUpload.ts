/**
 * Decodes an upload once for everything the embedder makes of it: the model's pixels and the
 * thumbnail. The image is decoded (upright, sRGB) to one raw buffer, no larger than both need
 * where sharp can shrink while loading, and the model's pixels and the thumbnail are resized
 * from that buffer.
 */
import sharp from 'sharp';
import type { DecodeImageOptions } from './decodeImageRgb.ts';
import { assertModelPixels, inspectImage, rejection } from './decodeImageRgb.ts';
import { perceptualHash } from './perceptualHash.ts';

export interface DecodeUploadOptions extends DecodeImageOptions {
  /** The thumbnail fits in `thumbnailSize × thumbnailSize`, never enlarged. */
  thumbnailSize: number;
}

export type DecodedUpload = {
  /** What `decodeImageRgb` returns for the same bytes: `width × height × 3`, RGB, HWC. */
  pixels: Buffer;
  /** `perceptualHash` of `pixels`: the same decode. */
  perceptualHash: string;
  thumbnail: { data: Buffer; width: number; height: number; mime: 'image/webp' };
};

/** Throws `UnsupportedImageError` or `UnprocessableImageError` with a `reason`, as `decodeImageRgb`. */
export async function decodeUpload(bytes: Uint8Array, options: DecodeUploadOptions): Promise<DecodedUpload> {
  const header = await inspectImage(bytes, options.maxInputPixels);
  const scale = sharedScale(header, options);
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
  const [model, thumbnail] = await Promise.all([
    sharp(decoded.data, raw)
      .flatten({ background: '#ffffff' })
      .resize(options.width, options.height, { fit: options.resize, position: 'centre' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true }),
    sharp(decoded.data, raw)
      .resize(options.thumbnailSize, options.thumbnailSize, { fit: 'inside', withoutEnlargement: true })
      // Effort 2 of 6: half the encoding time of the default 4 for about 1% more bytes.
      .webp({ quality: 80, effort: 2 })
      .toBuffer({ resolveWithObject: true }),
  ]).catch((cause: unknown) => {
    throw rejection(cause, header.format);
  });
  assertModelPixels(model.info, options);
  return {
    pixels: model.data,
    perceptualHash: perceptualHash(model.data, options.width, options.height),
    thumbnail: {
      data: thumbnail.data,
      width: thumbnail.info.width,
      height: thumbnail.info.height,
      mime: 'image/webp',
    },
  };
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
  return Math.min(1, Math.max(model, thumbnail));
}
