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
 * Structural completeness, cheap enough for every upload: the end markers a full file has, or
 * for containers without one, that every part the file points at lies inside it.
 * (The embedder decodes every pixel later and records a failure for anything subtler.)
 */
function looksTruncated(mime: SupportedImageType, bytes: Buffer): boolean {
  switch (mime) {
    case 'image/jpeg': {
      if (jpegEnd(bytes) !== undefined) return false;
      // A JPEG our walk cannot follow: at least its end-of-image marker must be near the end.
      const tail = bytes.subarray(Math.max(0, bytes.length - 64));
      return tail.lastIndexOf(Buffer.from([0xff, 0xd9])) === -1;
    }
    case 'image/png':
      return pngEnd(bytes) === undefined;
    case 'image/gif':
      return gifEnd(bytes) === undefined;
    case 'image/webp':
      return bytes.readUInt32LE(4) + 8 > bytes.length;
    case 'image/avif':
      return !boxesFit(bytes);
    case 'image/tiff':
      return !tiffStripsFit(bytes);
  }
}

/**
 * Where a GIF's trailer (0x3B) ends, found by walking its blocks; undefined when the blocks run
 * past the end. (A `;` merely near the end proves nothing: JavaScript appended to a GIF ends in one.)
 */
function gifEnd(bytes: Buffer): number | undefined {
  const flags = bytes[10];
  if (flags === undefined) return undefined;
  let at = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  const skipSubBlocks = () => {
    for (let size = bytes[at]; size !== undefined; size = bytes[at]) {
      at += size + 1;
      if (size === 0) return true;
    }
    return false;
  };
  for (;;) {
    const block = bytes[at];
    if (block === 0x3b) return at + 1;
    if (block === 0x21) {
      at += 2; // introducer, label
      if (!skipSubBlocks()) return undefined;
    } else if (block === 0x2c) {
      const local = bytes[at + 9];
      if (local === undefined) return undefined;
      at += 10 + (local & 0x80 ? 3 * 2 ** ((local & 7) + 1) : 0) + 1; // descriptor, palette, LZW code size
      if (!skipSubBlocks()) return undefined;
    } else {
      return undefined;
    }
  }
}

/**
 * Where a JPEG's end-of-image marker ends, found by walking its segments (an EXIF thumbnail's
 * own markers sit inside its APP1 segment and are skipped with it) and its entropy-coded scans;
 * undefined when the walk runs off the end or meets something that is not a marker.
 */
function jpegEnd(bytes: Buffer): number | undefined {
  let at = 2;
  for (;;) {
    if (bytes[at] !== 0xff) return undefined;
    while (bytes[at] === 0xff) at++; // fill bytes
    const marker = bytes[at++];
    if (marker === undefined) return undefined;
    if (marker === 0xd9) return at;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // no length
    if (at + 2 > bytes.length) return undefined;
    at += bytes.readUInt16BE(at);
    if (at > bytes.length) return undefined;
    if (marker !== 0xda) continue;
    // Scan data: 0xFF is followed by 0x00 (a stuffed byte) or a restart marker; anything else
    // is the next segment.
    for (;;) {
      at = bytes.indexOf(0xff, at);
      if (at === -1) return undefined;
      const next = bytes[at + 1];
      if (next === undefined) return undefined;
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) at += 2;
      else if (next === 0xff) at += 1;
      else break;
    }
  }
}

/** Where a PNG's IEND chunk ends, found by walking its chunks; undefined when they run past the end. */
function pngEnd(bytes: Buffer): number | undefined {
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    at += 12 + length;
    if (at > bytes.length) return undefined;
    if (type === 'IEND') return at;
  }
  return undefined;
}

/** Where the file's own data ends, for the formats whose end we can find; undefined otherwise. */
function endOf(mime: SupportedImageType, bytes: Buffer): number | undefined {
  switch (mime) {
    case 'image/gif':
      return gifEnd(bytes);
    case 'image/jpeg':
      return jpegEnd(bytes);
    case 'image/png':
      return pngEnd(bytes);
    default:
      return undefined;
  }
}

/** An ISO-BMFF file (AVIF): every top-level box fits in the file. */
function boxesFit(bytes: Buffer): boolean {
  let at = 0;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) return false;
    let size = bytes.readUInt32BE(at);
    if (size === 1) {
      if (at + 16 > bytes.length) return false;
      size = Number(bytes.readBigUInt64BE(at + 8));
    } else if (size === 0) {
      return true; // the last box runs to the end of the file
    }
    if (size < 8 || at + size > bytes.length) return false;
    at += size;
  }
  return true;
}

/** Bytes per value of each TIFF field type (1 BYTE … 13 IFD). */
const tiffTypeSizes = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4];

/** A TIFF: its first directory, every value it points at, and every strip or tile lie inside the file. */
function tiffStripsFit(bytes: Buffer): boolean {
  if (bytes.length < 8) return false;
  const little = bytes[0] === 0x49;
  const u16 = (at: number) => (little ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at));
  const u32 = (at: number) => (little ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
  const directory = u32(4);
  if (directory + 2 > bytes.length) return false;
  const entries = u16(directory);
  if (directory + 2 + entries * 12 + 4 > bytes.length) return false;
  const values = new Map<number, number[]>();
  for (let i = 0; i < entries; i++) {
    const entry = directory + 2 + i * 12;
    const [tag, type, count] = [u16(entry), u16(entry + 2), u32(entry + 4)];
    const width = tiffTypeSizes[type] ?? 0;
    const start = count * width <= 4 ? entry + 8 : u32(entry + 8);
    if (start + count * width > bytes.length) return false;
    if ([273, 279, 324, 325].includes(tag) && (type === 3 || type === 4)) {
      values.set(
        tag,
        Array.from({ length: count }, (_, k) => (type === 3 ? u16(start + k * 2) : u32(start + k * 4))),
      );
    }
  }
  for (const [offsetsTag, countsTag] of [
    [273, 279],
    [324, 325],
  ] as const) {
    const counts = values.get(countsTag) ?? [];
    if ((values.get(offsetsTag) ?? []).some((offset, k) => offset + (counts[k] ?? 0) > bytes.length))
      return false;
  }
  return true;
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
    // The decoder's own words (libvips, libheif) name internals: they go to the log as the
    // cause, never to the client.
    throw new UnprocessableError(`the ${mime} file is corrupt: it cannot be decoded`, {
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
  const end = endOf(mime, bytes);
  const trailing = end === undefined ? Buffer.alloc(0) : bytes.subarray(end);
  if (trailing.some((byte) => byte !== 0)) {
    // An image followed by script or an archive is a polyglot: another program would read it
    // as that, and we would serve it back byte for byte. (Zero padding is harmless.)
    throw new UnprocessableError(`the ${mime} file has ${trailing.length} bytes after its end`, {
      detail: { reason: 'trailing_data', mime },
    });
  }
  return { mime, width, height };
}
