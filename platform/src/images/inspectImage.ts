import sharp from 'sharp';
import {
  PayloadTooLargeError,
  UnprocessableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.ts';

/** The image types DeepLens accepts, by the content type it stores them under. */
export const supportedImageTypes = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/avif',
  'image/tiff',
] as const;
export type SupportedImageType = (typeof supportedImageTypes)[number];

export type InspectedImage = { mime: SupportedImageType; width: number; height: number };

export type ImageLimits = {
  /** Largest file accepted, bytes. */
  maxBytes: number;
  /** Largest width × height accepted: a decompression bomb declares more than it is worth. */
  maxPixels: number;
};

export const defaultImageLimits: ImageLimits = { maxBytes: 25 * 2 ** 20, maxPixels: 40_000_000 };

/** The real type, from the first bytes — never from the file name or the declared content type. */
export function sniffImageType(bytes: Buffer): SupportedImageType | undefined {
  const ascii = (start: number, end: number) => bytes.subarray(start, end).toString('latin1');
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (
    bytes.length >= 8 &&
    bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  )
    return 'image/png';
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (bytes.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'image/gif';
  if (bytes.length >= 12 && ascii(4, 8) === 'ftyp' && ['avif', 'avis'].includes(ascii(8, 12)))
    return 'image/avif';
  if (bytes.length >= 4 && (ascii(0, 4) === 'II*\u0000' || ascii(0, 4) === 'MM\u0000*')) return 'image/tiff';
  return undefined;
}

/**
 * Structural completeness, cheap enough for every upload: the end markers a full file has.
 * (The embedder decodes every pixel later and records a failure for anything subtler.)
 */
function looksTruncated(mime: SupportedImageType, bytes: Buffer): boolean {
  switch (mime) {
    case 'image/jpeg': {
      // The end-of-image marker, allowing a little trailing padding some encoders add.
      const tail = bytes.subarray(Math.max(0, bytes.length - 64));
      return tail.lastIndexOf(Buffer.from([0xff, 0xd9])) === -1;
    }
    case 'image/png':
      return bytes.subarray(Math.max(0, bytes.length - 64)).lastIndexOf(Buffer.from('IEND', 'latin1')) === -1;
    case 'image/gif':
      return (
        bytes[bytes.length - 1] !== 0x3b &&
        bytes.subarray(Math.max(0, bytes.length - 16)).indexOf(0x3b) === -1
      );
    case 'image/webp':
      return bytes.readUInt32LE(4) + 8 > bytes.length;
    case 'image/avif':
    case 'image/tiff':
      return false;
  }
}

/**
 * Checks an uploaded file before anything is stored: size, real type, dimensions from the
 * header, the pixel limit, and truncation. Every refusal is a 4xx with the reason.
 */
export async function inspectImage(
  bytes: Buffer,
  limits: ImageLimits = defaultImageLimits,
): Promise<InspectedImage> {
  if (bytes.length === 0) throw new ValidationError('the file is empty', { detail: { reason: 'empty' } });
  if (bytes.length > limits.maxBytes) {
    throw new PayloadTooLargeError(`the file is ${bytes.length} bytes; the limit is ${limits.maxBytes}`, {
      detail: { reason: 'too_large', limit: limits.maxBytes },
    });
  }
  const mime = sniffImageType(bytes);
  if (!mime) {
    throw new UnsupportedMediaTypeError(
      `not a supported image: expected one of ${supportedImageTypes.join(', ')}`,
      {
        detail: { reason: 'unsupported_format', supported: supportedImageTypes },
      },
    );
  }
  let width: number | undefined;
  let height: number | undefined;
  try {
    // limitInputPixels: false — we apply our own limit to the declared size, with our own message.
    const metadata = await sharp(bytes, { limitInputPixels: false, animated: false }).metadata();
    width = metadata.width;
    height = metadata.height;
  } catch (error) {
    throw new UnprocessableError(`the ${mime} file is corrupt: ${(error as Error).message}`, {
      cause: error,
      detail: { reason: 'corrupt', mime },
    });
  }
  if (!width || !height)
    throw new UnprocessableError(`the ${mime} file declares no size`, {
      detail: { reason: 'corrupt', mime },
    });
  if (width * height > limits.maxPixels) {
    throw new UnprocessableError(
      `the image declares ${width} × ${height} pixels; the limit is ${limits.maxPixels} pixels (decompression bomb guard)`,
      { detail: { reason: 'too_many_pixels', width, height, limit: limits.maxPixels } },
    );
  }
  if (looksTruncated(mime, bytes)) {
    throw new UnprocessableError(`the ${mime} file is truncated`, { detail: { reason: 'truncated', mime } });
  }
  return { mime, width, height };
}
