/**
 * Turns uploaded bytes into the exact pixels a model sees: decoded with sharp, turned upright by
 * its EXIF orientation, transparency flattened onto white, converted to sRGB (greyscale and CMYK
 * become three channels) and resized to the model's input size.
 */
import sharp from 'sharp';
import { UnprocessableImageError, UnsupportedImageError } from './imageErrors.ts';

/** Formats users upload as photos. SVG/PDF and libvips' own formats are refused on purpose. */
const acceptedFormats = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);

/** 40 megapixels: larger than any camera photo we expect, small enough to stop decompression bombs. */
export const DEFAULT_MAX_INPUT_PIXELS = 40_000_000;

export interface DecodeImageOptions {
  width: number;
  height: number;
  /** `fill` stretches to width × height; `cover` scales the short side and crops the centre. */
  resize: 'fill' | 'cover';
  maxInputPixels?: number;
}

/**
 * Decodes one image to `width × height × 3` bytes, RGB, row-major (HWC).
 * Throws `UnsupportedImageError` or `UnprocessableImageError` with a `reason`.
 */
export async function decodeImageRgb(bytes: Uint8Array, options: DecodeImageOptions): Promise<Buffer> {
  const { format, maxInputPixels } = await inspectImage(bytes, options.maxInputPixels);
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxInputPixels })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(options.width, options.height, { fit: options.resize, position: 'centre' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    assertModelPixels(info, options);
    return data;
  } catch (cause) {
    throw rejection(cause, format);
  }
}

/** What `inspectImage` learnt from an image's header. */
export type ImageHeader = {
  format: string;
  /** Width and height as the image is shown, after its EXIF orientation. */
  width: number;
  height: number;
  maxInputPixels: number;
};

/**
 * Reads an upload's header and refuses, before any decoding, what `decodeImageRgb` would:
 * empty bytes, unsupported formats, too many pixels.
 */
export async function inspectImage(
  bytes: Uint8Array,
  maxInputPixels = DEFAULT_MAX_INPUT_PIXELS,
): Promise<ImageHeader> {
  if (bytes.byteLength === 0) throw new UnprocessableImageError('empty', 'the image is empty');
  const metadata = await sharp(bytes)
    .metadata()
    .catch((cause: unknown) => {
      throw rejection(cause);
    });
  if (!acceptedFormats.has(metadata.format)) {
    throw new UnsupportedImageError(
      'unsupported_format',
      `image format ${metadata.format} is not supported`,
      {
        detail: { format: metadata.format },
      },
    );
  }
  const pixels = (metadata.width ?? 0) * (metadata.height ?? 0);
  if (pixels > maxInputPixels) {
    throw new UnprocessableImageError(
      'too_many_pixels',
      `the image has ${pixels} pixels, more than ${maxInputPixels}`,
      {
        detail: { width: metadata.width, height: metadata.height, maxInputPixels },
      },
    );
  }
  // Orientations 5–8 turn the image by 90° or 270°.
  const turned = (metadata.orientation ?? 1) >= 5;
  return {
    format: metadata.format,
    width: (turned ? metadata.height : metadata.width) ?? 0,
    height: (turned ? metadata.width : metadata.height) ?? 0,
    maxInputPixels,
  };
}

/** Throws unless sharp produced exactly the model's `width × height × 3`. */
export function assertModelPixels(
  info: { width: number; height: number; channels: number },
  options: DecodeImageOptions,
): void {
  if (info.channels !== 3 || info.width !== options.width || info.height !== options.height) {
    throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}`);
  }
}

/** Turns a sharp failure into `UnsupportedImageError` or `UnprocessableImageError` with a `reason`. */
export function rejection(cause: unknown, format?: string): UnsupportedImageError | UnprocessableImageError {
  const message = cause instanceof Error ? cause.message : String(cause);
  const detail = format === undefined ? {} : { format };
  if (/unsupported image format/i.test(message)) {
    return new UnsupportedImageError(
      'unsupported_format',
      'the bytes are not an image in a supported format',
      {
        cause,
      },
    );
  }
  if (/pixel limit/i.test(message)) {
    return new UnprocessableImageError('too_many_pixels', 'the image has too many pixels', { cause, detail });
  }
  // "Corrupt JPEG data: premature end of data segment" is damage inside the file, not a cut-off file.
  if (!/corrupt/i.test(message) && /premature end|truncated|unexpected end/i.test(message)) {
    return new UnprocessableImageError('truncated', 'the image data is truncated', { cause, detail });
  }
  return new UnprocessableImageError('corrupt', `the image cannot be decoded: ${message}`, { cause, detail });
}
