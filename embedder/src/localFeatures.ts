/**
 * Local features for geometric verification (issue 15): ORB keypoints and their 256-bit
 * descriptors on a greyscale copy of an image (longest side ≤ `LOCAL_FEATURE_SIZE`, histogram
 * equalised), and the check that two images show the same picture: mutual nearest neighbours
 * under a ratio test, then a similarity transform (scale, rotation, translation) found by
 * RANSAC; the number of matches it explains is the inlier count. A crop, a frame, letterbox
 * bars, a small rotation, a watermark or a re-encoding keep most keypoints where the transform
 * puts them; two different pictures agree on a handful by chance.
 *
 * ORB comes from OpenCV compiled to WebAssembly (`@techstark/opencv-js`, loaded once per
 * process, ≈ 0.4 s and ≈ 80 MB); matching runs in WebAssembly (`hammingKernel.ts`), RANSAC in
 * TypeScript, both deterministic.
 * Features travel as one compact blob (`encodeLocalFeatures`): 8 bytes of header, 4 bytes of
 * position and 32 of descriptor per keypoint, ≈ 18 KiB for 500 keypoints.
 */
import { createRequire } from 'node:module';
import { nearestNeighbours } from './hammingKernel.ts';

/** The greyscale copy's longest side, in pixels (never enlarged: measured, see docs/search-quality.md). */
export const LOCAL_FEATURE_SIZE = 512;
/** Keypoints ORB keeps per image, strongest first. */
export const LOCAL_FEATURE_COUNT = 500;

const FORMAT_VERSION = 1;
const HEADER_BYTES = 8;
const DESCRIPTOR_BYTES = 32;
/** Keypoint positions are stored in 1/16 pixel (u16), so up to 4096 px. */
const POSITION_SCALE = 16;

export type LocalFeatures = {
  /** The greyscale copy's size the positions refer to. */
  width: number;
  height: number;
  /** x0, y0, x1, y1, … in pixels of the copy. */
  points: Float32Array;
  /** 8 × 32-bit words per keypoint. */
  descriptors: Uint32Array;
  count: number;
};

/** The subset of OpenCV.js this module uses. */
type OpenCv = {
  Mat: new () => CvMat;
  ORB: new (features: number) => {
    detectAndCompute(img: CvMat, mask: CvMat, kp: CvKeyPoints, des: CvMat): void;
  };
  KeyPointVector: new () => CvKeyPoints;
  CV_8UC1: number;
  matFromArray(rows: number, cols: number, type: number, data: Uint8Array): CvMat;
  equalizeHist(src: CvMat, dst: CvMat): void;
  onRuntimeInitialized?: () => void;
};
type CvMat = { data: Uint8Array; rows: number; cols: number; delete(): void };
type CvKeyPoints = { size(): number; get(i: number): { pt: { x: number; y: number } }; delete(): void };

/**
 * The module object is a thenable (Emscripten's `Module.then`): a promise resolved with it
 * would adopt it again and again, so it travels wrapped.
 */
let openCv: Promise<{ cv: OpenCv }> | undefined;

/** OpenCV.js, initialised once per process (wrapped: see above). */
export function loadOpenCv(): Promise<{ cv: OpenCv }> {
  openCv ??= new Promise<{ cv: OpenCv }>((resolve, reject) => {
    try {
      const cv = createRequire(import.meta.url)('@techstark/opencv-js') as OpenCv;
      if (typeof cv.Mat === 'function') resolve({ cv });
      else cv.onRuntimeInitialized = () => resolve({ cv });
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
    }
  });
  return openCv;
}

type Orb = InstanceType<OpenCv['ORB']>;
const orbs = new WeakMap<OpenCv, Orb>();

/**
 * ORB features of a greyscale image (`width × height` bytes, row-major), as the blob
 * `encodeLocalFeatures` writes. An image too small or too flat for any keypoint gives a blob
 * with none.
 */
export async function extractLocalFeatures(grey: Uint8Array, width: number, height: number): Promise<Buffer> {
  if (grey.length !== width * height) {
    throw new Error(`extractLocalFeatures needs ${width} × ${height} grey pixels, got ${grey.length} bytes`);
  }
  const { cv } = await loadOpenCv();
  let orb = orbs.get(cv);
  if (!orb) {
    orb = new cv.ORB(LOCAL_FEATURE_COUNT);
    orbs.set(cv, orb);
  }
  const image = cv.matFromArray(height, width, cv.CV_8UC1, grey);
  const mask = new cv.Mat();
  const keypoints = new cv.KeyPointVector();
  const descriptors = new cv.Mat();
  try {
    cv.equalizeHist(image, image);
    orb.detectAndCompute(image, mask, keypoints, descriptors);
    const count = Math.min(keypoints.size(), descriptors.rows);
    const points = new Float32Array(count * 2);
    for (let i = 0; i < count; i++) {
      const { pt } = keypoints.get(i);
      points[2 * i] = pt.x;
      points[2 * i + 1] = pt.y;
    }
    return encodeLocalFeatures(width, height, points, descriptors.data.subarray(0, count * DESCRIPTOR_BYTES));
  } finally {
    image.delete();
    mask.delete();
    keypoints.delete();
    descriptors.delete();
  }
}

/** The blob: version, 0, count (u16), width, height (u16), then positions (u16 × 2) and descriptors. */
export function encodeLocalFeatures(
  width: number,
  height: number,
  points: Float32Array,
  descriptors: Uint8Array,
): Buffer {
  const count = points.length / 2;
  const blob = Buffer.alloc(HEADER_BYTES + count * (4 + DESCRIPTOR_BYTES));
  blob.writeUInt8(FORMAT_VERSION, 0);
  blob.writeUInt16LE(count, 2);
  blob.writeUInt16LE(width, 4);
  blob.writeUInt16LE(height, 6);
  for (let i = 0; i < points.length; i++) {
    blob.writeUInt16LE(Math.min(0xffff, Math.round(points[i]! * POSITION_SCALE)), HEADER_BYTES + 2 * i);
  }
  blob.set(descriptors, HEADER_BYTES + count * 4);
  return blob;
}

/** The features a blob holds, or null when it is not one `encodeLocalFeatures` wrote. */
export function decodeLocalFeatures(blob: Uint8Array | null | undefined): LocalFeatures | null {
  if (!blob || blob.length < HEADER_BYTES) return null;
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (view.getUint8(0) !== FORMAT_VERSION) return null;
  const count = view.getUint16(2, true);
  const width = view.getUint16(4, true);
  const height = view.getUint16(6, true);
  if (blob.length !== HEADER_BYTES + count * (4 + DESCRIPTOR_BYTES)) return null;
  const points = new Float32Array(count * 2);
  for (let i = 0; i < points.length; i++)
    points[i] = view.getUint16(HEADER_BYTES + 2 * i, true) / POSITION_SCALE;
  // A copy, so the words are aligned.
  const bytes = new Uint8Array(count * DESCRIPTOR_BYTES);
  bytes.set(blob.subarray(HEADER_BYTES + count * 4));
  return { width, height, points, descriptors: new Uint32Array(bytes.buffer), count };
}

export type VerificationOptions = {
  /** A match is kept when its distance is below this fraction of the second nearest's. */
  ratio: number;
  /** A match agrees with a transform when it lands within this fraction of the candidate's longest side. */
  tolerance: number;
  /** RANSAC hypotheses tried. */
  iterations: number;
};

export const defaultVerification: VerificationOptions = { ratio: 0.8, tolerance: 0.012, iterations: 400 };

/**
 * Matches that pass the ratio test both ways and are each other's nearest: pairs of keypoint
 * indices (query, candidate).
 */
export function mutualMatches(
  query: LocalFeatures,
  candidate: LocalFeatures,
  ratio: number,
): [number, number][] {
  const n = query.count;
  const m = candidate.count;
  if (n < 2 || m < 2) return [];
  const { rows, cols } = nearestNeighbours(query.descriptors, n, candidate.descriptors, m);
  const matches: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const j = rows[3 * i]!;
    if (j < 0 || cols[3 * j] !== i) continue;
    if (rows[3 * i + 1]! >= ratio * rows[3 * i + 2]! || cols[3 * j + 1]! >= ratio * cols[3 * j + 2]!)
      continue;
    matches.push([i, j]);
  }
  return matches;
}

/**
 * How many of the mutual matches one similarity transform (query → candidate) explains: the
 * inlier count of the best of `iterations` RANSAC hypotheses, each from two matches. 0 when
 * there are fewer than 3 matches. Deterministic.
 */
export function verifyGeometry(
  query: LocalFeatures,
  candidate: LocalFeatures,
  options: VerificationOptions = defaultVerification,
): number {
  const matches = mutualMatches(query, candidate, options.ratio);
  const k = matches.length;
  if (k < 3) return 0;
  const qx = new Float64Array(k);
  const qy = new Float64Array(k);
  const cx = new Float64Array(k);
  const cy = new Float64Array(k);
  matches.forEach(([i, j], at) => {
    qx[at] = query.points[2 * i]!;
    qy[at] = query.points[2 * i + 1]!;
    cx[at] = candidate.points[2 * j]!;
    cy[at] = candidate.points[2 * j + 1]!;
  });
  const tolerance = options.tolerance * Math.max(candidate.width, candidate.height);
  const tolerance2 = tolerance * tolerance;
  // A small linear congruential generator: the same answer for the same features, every time.
  let seed = 0x2545f491 ^ k;
  const next = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 0x100000000;
  };
  let bestInliers = 0;
  const pairs = (k * (k - 1)) / 2;
  const iterations = Math.min(options.iterations, pairs);
  for (let it = 0; it < iterations; it++) {
    let a = Math.floor(next() * k);
    let b = Math.floor(next() * (k - 1));
    if (b >= a) b++;
    if (pairs <= options.iterations) {
      // Few matches: try every pair once instead.
      let rest = it;
      a = 0;
      while (rest >= k - 1 - a) {
        rest -= k - 1 - a;
        a++;
      }
      b = a + 1 + rest;
    }
    const dqx = qx[b]! - qx[a]!;
    const dqy = qy[b]! - qy[a]!;
    const dcx = cx[b]! - cx[a]!;
    const dcy = cy[b]! - cy[a]!;
    const norm = dqx * dqx + dqy * dqy;
    if (norm < 1e-6) continue;
    // c = [s -t; t s] q + (u, v)
    const s = (dcx * dqx + dcy * dqy) / norm;
    const t = (dcy * dqx - dcx * dqy) / norm;
    const scale2 = s * s + t * t;
    if (scale2 < 1 / 64 || scale2 > 64) continue;
    const u = cx[a]! - (s * qx[a]! - t * qy[a]!);
    const v = cy[a]! - (t * qx[a]! + s * qy[a]!);
    // Only a hypothesis that explains more than the best so far changes the answer: stop
    // counting as soon as the matches left cannot lift this one above it.
    let inliers = 0;
    for (let p = 0; p < k && inliers + k - p > bestInliers; p++) {
      const ex = s * qx[p]! - t * qy[p]! + u - cx[p]!;
      const ey = t * qx[p]! + s * qy[p]! + v - cy[p]!;
      if (ex * ex + ey * ey <= tolerance2) inliers++;
    }
    if (inliers > bestInliers) bestInliers = inliers;
    // Every match explained: no hypothesis can do better.
    if (bestInliers === k) break;
  }
  return bestInliers;
}
