import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

const photosDir = join(import.meta.dirname, '..', 'embedder', 'fixtures', 'photos');

async function fixturePhotos(): Promise<Buffer[]> {
  const names = (await readdir(photosDir)).filter((f) => f.endsWith('.jpg')).sort();
  return Promise.all(names.map((f) => readFile(join(photosDir, f))));
}

/**
 * N distinct JPEGs of 640×480 made from the fixture photos (crops, flips, tints), as
 * `bench/embedder.ts` makes them, so the figures of both benchmarks compare.
 */
export async function benchPhotos(n: number): Promise<Buffer[]> {
  const sources = await fixturePhotos();
  const out: Buffer[] = [];
  for (let i = 0; out.length < n; i++) {
    const source = sources[i % sources.length]!;
    const variant = Math.floor(i / sources.length);
    // The first 14 variants of each source (most of a 300-photo run) differ by crop position, mirror
    // and brightness; several crop positions coincide on some sources, so later variants (runs of
    // thousands, e.g. the 10 k ingest) are each cut at their own offset: no two are the same bytes.
    const image =
      variant < 14
        ? sharp(source).resize(640, 480, { fit: 'cover', position: variant % 5 })
        : sharp(source)
            .resize(680, 510, { fit: 'cover' })
            .extract({ left: variant % 41, top: Math.floor(variant / 41) % 31, width: 640, height: 480 });
    if (variant % 2 === 1) image.flop();
    out.push(
      await image
        .modulate({ brightness: 0.8 + (variant % 7) * 0.06 })
        .jpeg({ quality: 85 })
        .toBuffer(),
    );
  }
  return out;
}

/**
 * N distinct JPEGs of about `targetBytes` each (±15%): fixture photos at 1600×1200 with a
 * per-image tint, the JPEG quality searched per image until the size fits.
 */
export async function jpegsOfAbout(targetBytes: number, n: number): Promise<Buffer[]> {
  const sources = await fixturePhotos();
  const out: Buffer[] = [];
  for (let i = 0; out.length < n; i++) {
    const source = sources[i % sources.length]!;
    const base = sharp(source)
      .resize(1600, 1200, { fit: 'cover', position: Math.floor(i / sources.length) % 5 })
      .modulate({ brightness: 0.85 + (i % 11) * 0.03 });
    let [low, high] = [20, 98];
    let best: Buffer | undefined;
    while (low <= high) {
      const quality = Math.floor((low + high) / 2);
      const bytes = await base.clone().jpeg({ quality }).toBuffer();
      if (!best || Math.abs(bytes.length - targetBytes) < Math.abs(best.length - targetBytes)) best = bytes;
      if (Math.abs(bytes.length - targetBytes) <= targetBytes * 0.05) break;
      if (bytes.length > targetBytes) high = quality - 1;
      else low = quality + 1;
    }
    out.push(best!);
  }
  return out;
}

/**
 * N distinct phone-like photos: 4000×3000 (12 megapixels) JPEGs of 3–5 MB, made from the
 * fixture photos (upscaled, cropped, flipped, tinted) with a fixed pseudo-random grain
 * overlaid, so they carry the fine detail (and the bytes) of a sensor's output rather than an
 * upscale's smoothness. Deterministic: the same N photos every run.
 */
export async function phonePhotos(n: number): Promise<Buffer[]> {
  const [width, height] = [4000, 3000];
  const sources = await fixturePhotos();
  let seed = 0x2545f491;
  const grain = Buffer.allocUnsafe(width * height * 3);
  for (let i = 0; i < grain.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    grain[i] = 78 + ((seed >>> 24) % 101);
  }
  const out: Buffer[] = [];
  for (let i = 0; out.length < n; i++) {
    const variant = Math.floor(i / sources.length);
    let image = sharp(sources[i % sources.length]).resize(width, height, {
      fit: 'cover',
      position: variant % 5,
    });
    if (variant % 2 === 1) image = image.flop();
    const grained = await image
      .modulate({ brightness: 0.85 + (i % 9) * 0.04 })
      .composite([{ input: grain, raw: { width, height, channels: 3 }, blend: 'overlay' }])
      .raw()
      .toBuffer();
    const encode = (quality: number) =>
      sharp(grained, { raw: { width, height, channels: 3 } })
        .jpeg({ quality })
        .toBuffer();
    let quality = 86;
    let bytes = await encode(quality);
    for (let tries = 0; tries < 4 && (bytes.length < 3e6 || bytes.length > 5e6); tries++) {
      quality += bytes.length < 3e6 ? 4 : -5;
      bytes = await encode(quality);
    }
    out.push(bytes);
  }
  return out;
}
