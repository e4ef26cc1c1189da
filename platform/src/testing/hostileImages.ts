import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** A small real photo-like JPEG (a gradient with noise), made on the spot. */
export async function makeJpeg(width = 64, height = 48, seed = 1): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed;
  for (let i = 0; i < pixels.length; i++) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    pixels[i] = ((i % (width * 3)) * 4 + (state % 32)) & 0xff;
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

export async function makePng(width = 32, height = 32): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 90 } } })
    .png()
    .toBuffer();
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A tiny, valid PNG whose header declares `width` × `height`: a decompression bomb. */
export function makePngBomb(width = 50_000, height = 50_000): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  // One compressed row of zeros stands in for billions of pixels.
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.alloc(width + 1))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The image formats DeepLens accepts, by sharp's name for each. */
export const imageFormats = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'] as const;
export type ImageFormat = (typeof imageFormats)[number];

/** A small, valid image of `format`: `makeJpeg`'s picture re-encoded. */
export async function makeImage(format: ImageFormat, width = 64, height = 48, seed = 1): Promise<Buffer> {
  const image = sharp(await makeJpeg(width, height, seed));
  switch (format) {
    case 'jpeg':
      return image.jpeg().toBuffer();
    case 'png':
      return image.png().toBuffer();
    case 'webp':
      return image.webp().toBuffer();
    case 'gif':
      return image.gif().toBuffer();
    case 'avif':
      return image.avif().toBuffer();
    case 'tiff':
      return image.tiff().toBuffer();
  }
}

/** The first `fraction` of the bytes: an upload cut off on the way. */
export function truncated(bytes: Buffer, fraction: number): Buffer {
  return bytes.subarray(0, Math.max(1, Math.floor(bytes.length * fraction)));
}

/** The signature and first 24 bytes kept, then every 5th byte inverted: garbage behind a valid type. */
export function corrupted(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  for (let i = 24; i < copy.length; i += 5) copy[i] = copy[i]! ^ 0xff;
  return copy;
}

/** A lossy WebP whose frame header declares 16 383 × 16 383 pixels. */
export async function makeWebpBomb(): Promise<Buffer> {
  const bomb = Buffer.from(await makeImage('webp'));
  // RIFF header (12) + 'VP8 ' chunk header (8) + frame tag (3) + start code (3), then the sizes.
  bomb.writeUInt16LE(16383, 26);
  bomb.writeUInt16LE(16383, 28);
  return bomb;
}

/** A GIF whose screen and frame both declare 65 535 × 65 535 pixels. */
export async function makeGifBomb(): Promise<Buffer> {
  const bomb = Buffer.from(await makeImage('gif'));
  bomb.writeUInt16LE(65535, 6);
  bomb.writeUInt16LE(65535, 8);
  const flags = bomb[10]!;
  let at = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  while (bomb[at] === 0x21) {
    at += 2;
    while (bomb[at] !== 0) at += bomb[at]! + 1;
    at++;
  }
  bomb.writeUInt16LE(65535, at + 5);
  bomb.writeUInt16LE(65535, at + 7);
  return bomb;
}

/** A baseline JPEG whose frame header declares 65 500 × 65 500 pixels. */
export async function makeJpegBomb(): Promise<Buffer> {
  const bomb = Buffer.from(await makeJpeg());
  const frame = bomb.indexOf(Buffer.from([0xff, 0xc0]));
  bomb.writeUInt16BE(65500, frame + 5);
  bomb.writeUInt16BE(65500, frame + 7);
  return bomb;
}

/** A TIFF whose directory declares 65 535 × 65 535 pixels. */
export async function makeTiffBomb(): Promise<Buffer> {
  const bomb = Buffer.from(await makeImage('tiff'));
  const directory = bomb.readUInt32LE(4);
  for (let i = 0; i < bomb.readUInt16LE(directory); i++) {
    const entry = directory + 2 + i * 12;
    if (bomb.readUInt16LE(entry) === 256 || bomb.readUInt16LE(entry) === 257) {
      if (bomb.readUInt16LE(entry + 2) === 3) bomb.writeUInt16LE(65535, entry + 8);
      else bomb.writeUInt32LE(65535, entry + 8);
    }
  }
  return bomb;
}

/** An AVIF whose `ispe` box declares 100 000 × 100 000 pixels. */
export async function makeAvifBomb(): Promise<Buffer> {
  const bomb = Buffer.from(await makeImage('avif'));
  const ispe = bomb.indexOf(Buffer.from('ispe', 'latin1'));
  bomb.writeUInt32BE(100_000, ispe + 8);
  bomb.writeUInt32BE(100_000, ispe + 12);
  return bomb;
}

/** A one-file ZIP (stored, not compressed): what a JAR, a DOCX or a web shell archive is. */
export function makeZip(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  const fileName = Buffer.from(name);
  const crc = crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(fileName.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  const localLength = local.length + fileName.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fileName.length, 12);
  end.writeUInt32LE(localLength, 16);
  return Buffer.concat([local, fileName, data, central, fileName, end]);
}

/**
 * A GIF that is also valid JavaScript: `GIF89a/*` opens a comment (the screen width is the
 * bytes `/*`), the picture follows, and after its trailer `*\/=alert(document.domain);`
 * closes the comment and runs — what a page including it as a script would do.
 */
export async function makeGifJavaScriptPolyglot(): Promise<Buffer> {
  const gif = Buffer.from(await makeImage('gif', 16, 16));
  gif.write('/*', 6, 'latin1');
  if (gif.indexOf('*/', 8, 'latin1') !== -1) throw new Error('the picture itself closes the comment');
  return Buffer.concat([gif, Buffer.from('*/=alert(document.domain);', 'latin1')]);
}
