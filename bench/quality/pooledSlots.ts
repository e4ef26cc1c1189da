/**
 * One forward pass of the default backbone per dev-set image, pooled every way the descriptor
 * experiments need, cached per file of images in `.stack/devset`: slot 0 the model's average,
 * slots 1… GeM (p = 3) of each region of `featureMapRegions` (slot 1 the whole map).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { decodeImageRgb } from '@deeplens/embedder/decodeImageRgb';
import type { ModelManifest } from '@deeplens/embedder/modelManifest';
import { gemPool, l2Normalize } from '@deeplens/embedder/pooling';
import { featureMapRegions } from '@deeplens/embedder/poolingWhitening';

export const SIDE = 7;
export const regions = featureMapRegions(SIDE, SIDE);
export const SLOTS = 1 + regions.length;
export const DIM = 1792;

let session: ort.InferenceSession | undefined;

/** Every image's pooled slots (the backbone `manifest`, average pooling), cached in `cache`. */
export async function pooledSlots(
  images: readonly Uint8Array[],
  cache: string,
  manifest: ModelManifest,
): Promise<Float32Array> {
  const bytes = images.length * SLOTS * DIM * 4;
  if (existsSync(cache)) {
    const b = await readFile(cache);
    if (b.length === bytes) return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  }
  session ??= await ort.InferenceSession.create(manifest.file, {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const out = new Float32Array(images.length * SLOTS * DIM);
  const plane = 224 * 224;
  for (let start = 0; start < images.length; start += 16) {
    const chunk = images.slice(start, start + 16);
    const batch = new Float32Array(chunk.length * plane * 3);
    const decoded = await Promise.all(
      chunk.map((b) => decodeImageRgb(b, { width: 224, height: 224, resize: 'fill' })),
    );
    decoded.forEach((rgb, i) => {
      for (let c = 0; c < 3; c++)
        for (let p = 0; p < plane; p++) batch[i * plane * 3 + c * plane + p] = rgb[p * 3 + c]! / 255;
    });
    const result = await session.run({
      [manifest.inputName]: new ort.Tensor('float32', batch, [chunk.length, 3, 224, 224]),
    });
    const map = result.feature_map!.data as Float32Array;
    const avg = result.embedding!.data as Float32Array;
    for (let i = 0; i < chunk.length; i++) {
      const base = (start + i) * SLOTS * DIM;
      out.set(avg.subarray(i * DIM, (i + 1) * DIM), base);
      regions.forEach((r, ri) => {
        out.set(regionGem(map, i * DIM * SIDE * SIDE, r), base + (1 + ri) * DIM);
      });
    }
    if ((start / 16) % 10 === 0) console.log(`${cache}: ${start + chunk.length}/${images.length}`);
  }
  await writeFile(cache, new Uint8Array(out.buffer));
  return out;
}

/** GeM (p = 3) of one region of one image's NCHW 7 × 7 map. */
function regionGem(map: Float32Array, offset: number, r: { x: number; y: number; w: number; h: number }) {
  const region = new Float32Array(DIM * r.w * r.h);
  for (let c = 0; c < DIM; c++)
    for (let y = 0; y < r.h; y++)
      for (let x = 0; x < r.w; x++)
        region[c * r.w * r.h + y * r.w + x] = map[offset + c * SIDE * SIDE + (r.y + y) * SIDE + r.x + x]!;
  return gemPool(region, 0, DIM, r.w * r.h);
}

/** Slot `s` of image `image`. */
export const slot = (all: Float32Array, image: number, s: number) =>
  all.subarray((image * SLOTS + s) * DIM, (image * SLOTS + s + 1) * DIM);

/** A unit-length copy. */
export const normalised = (v: Float32Array) => l2Normalize(Float32Array.from(v));
