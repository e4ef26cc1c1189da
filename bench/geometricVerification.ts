/**
 * Geometric verification's CPU per candidate pair (issues #15/#18), old against new in the same
 * run: the matching of up to 500 × 500 ORB descriptors and the RANSAC that `verifyGeometry` runs
 * for each of a search's top candidates. Three implementations, all giving the same answers
 * (checked here on every pair, the run fails otherwise):
 *   - TypeScript: the matcher before the WebAssembly kernel (32-bit popcount by shifts and masks,
 *     both directions in one pass) and RANSAC scoring every hypothesis over every match;
 *   - WebAssembly, one row per pass: the first kernel (commit ed0ebea, `i64.popcnt`), same RANSAC;
 *   - now: `verifyGeometry` (eight rows per pass, RANSAC abandoning hopeless hypotheses).
 * Pairs: each fixture photo's off-centre crop and 5° rotation against every other photo
 * (different pictures: what most of a search's candidates are) and against its own original
 * (the same picture: many matches, so RANSAC weighs). Interleaved rounds; CPU time of this
 * process (steadier than wall time on the shared machine).
 *   npx tsx bench/geometricVerification.ts [rounds=5]
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeForSearch } from '@deeplens/embedder/decodeUpload';
import {
  decodeLocalFeatures,
  defaultVerification,
  extractLocalFeatures,
  type LocalFeatures,
  mutualMatches,
  verifyGeometry,
} from '@deeplens/embedder/localFeatures';
import { report, type Row } from './benchSupport.ts';

const rounds = Number(process.argv[2] ?? 5);
const bar = 10;

// --- the implementations before -------------------------------------------------------------

type Neighbours = { rows: Int32Array; cols: Int32Array };
type Matcher = (q: Uint32Array, n: number, c: Uint32Array, m: number) => Neighbours;

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** The TypeScript matcher of `localFeatures.ts` before the WebAssembly kernel. */
const typeScriptMatcher: Matcher = (qd, n, cd, m) => {
  const rows = new Int32Array(n * 3);
  const cols = new Int32Array(m * 3);
  for (let j = 0; j < m; j++) cols.set([-1, 0xffff, 0xffff], 3 * j);
  for (let i = 0; i < n; i++) {
    const q = i * 8;
    const [q0, q1, q2, q3, q4, q5, q6, q7] = qd.subarray(q, q + 8) as unknown as number[];
    let d1 = 0xffff;
    let d2 = 0xffff;
    let best = -1;
    for (let j = 0; j < m; j++) {
      const c = j * 8;
      const d =
        popcount(q0! ^ cd[c]!) +
        popcount(q1! ^ cd[c + 1]!) +
        popcount(q2! ^ cd[c + 2]!) +
        popcount(q3! ^ cd[c + 3]!) +
        popcount(q4! ^ cd[c + 4]!) +
        popcount(q5! ^ cd[c + 5]!) +
        popcount(q6! ^ cd[c + 6]!) +
        popcount(q7! ^ cd[c + 7]!);
      if (d < d1) {
        d2 = d1;
        d1 = d;
        best = j;
      } else if (d < d2) d2 = d;
      if (d < cols[3 * j + 1]!) {
        cols[3 * j + 2] = cols[3 * j + 1]!;
        cols[3 * j + 1] = d;
        cols[3 * j] = i;
      } else if (d < cols[3 * j + 2]!) cols[3 * j + 2] = d;
    }
    rows.set([best, d1, d2], 3 * i);
  }
  return { rows, cols };
};

/** The first WebAssembly kernel (commit ed0ebea, `embedder/src/hammingKernel.wat`): one row per pass. */
const oneRowKernel =
  'AGFzbQEAAAABCgFgBn9/f39/fwADAgEABQMBAAEHFAIGbWVtb3J5AgAHbmVhcmVzdAAACt4CAdsCAwV/BH4EfyAFIQoCQANAIAcgA08NASAKQX82AgAgCkH//wM2AgQgCkH//wM2AgggCkEMaiEKIAdBAWohBwwACwsCQANAIAYgAU8NASAAIAZBBXRqIQggCCkDACELIAgpAwghDCAIKQMQIQ0gCCkDGCEOIAIhCSAFIQpB//8DIRBB//8DIRFBfyESQQAhBwJAA0AgByADTw0BIAsgCSkDAIV7IAwgCSkDCIV7fCANIAkpAxCFeyAOIAkpAxiFe3x8pyEPIA8gEEkEQCAQIREgDyEQIAchEgUgDyARSQRAIA8hEQsLIA8gCigCBEkEQCAKIAooAgQ2AgggCiAPNgIEIAogBjYCAAUgDyAKKAIISQRAIAogDzYCCAsLIAlBIGohCSAKQQxqIQogB0EBaiEHDAALCyAEIBI2AgAgBCAQNgIEIAQgETYCCCAEQQxqIQQgBkEBaiEGDAALCws=';

declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
};
type KernelExports = {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  nearest: (q: number, n: number, c: number, m: number, rows: number, cols: number) => void;
};
const oneRow = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(oneRowKernel, 'base64')))
  .exports as KernelExports;

/** How `hammingKernel.ts` calls its module, with the first kernel. */
const oneRowMatcher: Matcher = (query, n, candidate, m) => {
  const { memory, nearest } = oneRow;
  const [q, c] = [0, n * 32];
  const rows = c + m * 32;
  const cols = rows + n * 12;
  const end = cols + m * 12;
  if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  const words = new Uint32Array(memory.buffer);
  words.set(query.subarray(0, n * 8), q / 4);
  words.set(candidate.subarray(0, m * 8), c / 4);
  nearest(q, n, c, m, rows, cols);
  return {
    rows: new Int32Array(memory.buffer.slice(rows, rows + n * 12)),
    cols: new Int32Array(memory.buffer.slice(cols, cols + m * 12)),
  };
};

/** `mutualMatches` before, with a given matcher. */
function matchesBefore(matcher: Matcher, query: LocalFeatures, candidate: LocalFeatures, ratio: number) {
  const n = query.count;
  const m = candidate.count;
  if (n < 2 || m < 2) return [];
  const { rows, cols } = matcher(query.descriptors, n, candidate.descriptors, m);
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

/** `verifyGeometry` before: a given matcher, and RANSAC scoring every hypothesis over every match. */
function verifyBefore(matcher: Matcher, query: LocalFeatures, candidate: LocalFeatures): number {
  const { ratio, tolerance: fraction, iterations: maxIterations } = defaultVerification;
  const n = query.count;
  const m = candidate.count;
  if (n < 2 || m < 2) return 0;
  const matches = matchesBefore(matcher, query, candidate, ratio);
  const k = matches.length;
  if (k < 3) return 0;
  const [qx, qy, cx, cy] = [
    new Float64Array(k),
    new Float64Array(k),
    new Float64Array(k),
    new Float64Array(k),
  ];
  matches.forEach(([i, j], at) => {
    qx[at] = query.points[2 * i]!;
    qy[at] = query.points[2 * i + 1]!;
    cx[at] = candidate.points[2 * j]!;
    cy[at] = candidate.points[2 * j + 1]!;
  });
  const tolerance = fraction * Math.max(candidate.width, candidate.height);
  const tolerance2 = tolerance * tolerance;
  let seed = 0x2545f491 ^ k;
  const next = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 0x100000000;
  };
  let bestInliers = 0;
  const pairs = (k * (k - 1)) / 2;
  const iterations = Math.min(maxIterations, pairs);
  for (let it = 0; it < iterations; it++) {
    let a = Math.floor(next() * k);
    let b = Math.floor(next() * (k - 1));
    if (b >= a) b++;
    if (pairs <= maxIterations) {
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
    const s = (dcx * dqx + dcy * dqy) / norm;
    const t = (dcy * dqx - dcx * dqy) / norm;
    const scale2 = s * s + t * t;
    if (scale2 < 1 / 64 || scale2 > 64) continue;
    const u = cx[a]! - (s * qx[a]! - t * qy[a]!);
    const v = cy[a]! - (t * qx[a]! + s * qy[a]!);
    let inliers = 0;
    for (let p = 0; p < k; p++) {
      const ex = s * qx[p]! - t * qy[p]! + u - cx[p]!;
      const ey = t * qx[p]! + s * qy[p]! + v - cy[p]!;
      if (ex * ex + ey * ey <= tolerance2) inliers++;
    }
    if (inliers > bestInliers) bestInliers = inliers;
  }
  return bestInliers;
}

// --- the pairs --------------------------------------------------------------------------------

const photosDir = join(import.meta.dirname, '..', 'embedder', 'fixtures', 'photos');
const model = { width: 224, height: 224, resize: 'fill' as const };
async function featuresOf(bytes: Buffer): Promise<LocalFeatures> {
  const { grey } = await decodeForSearch(bytes, model);
  if (!grey) throw new Error('no greyscale copy');
  return decodeLocalFeatures(await extractLocalFeatures(grey.data, grey.width, grey.height))!;
}

const originals: LocalFeatures[] = [];
const edits: { of: number; features: LocalFeatures }[] = [];
const names = (await readdir(photosDir)).filter((f) => f.endsWith('.jpg')).sort();
for (const [at, name] of names.entries()) {
  const bytes = await readFile(join(photosDir, name));
  const { width = 0, height = 0 } = await sharp(bytes).metadata();
  originals.push(await featuresOf(bytes));
  const crop = {
    left: 0,
    top: Math.round(height * 0.2),
    width: Math.round(width * 0.7),
    height: Math.round(height * 0.7),
  };
  for (const edited of [
    sharp(bytes).extract(crop).jpeg({ quality: 80 }),
    sharp(bytes).rotate(5, { background: '#000' }).jpeg(),
  ])
    edits.push({ of: at, features: await featuresOf(await edited.toBuffer()) });
}
type Pair = [LocalFeatures, LocalFeatures];
const different: Pair[] = edits.flatMap((e) =>
  originals.filter((_, o) => o !== e.of).map((o): Pair => [e.features, o]),
);
const same: Pair[] = edits.map((e): Pair => [e.features, originals[e.of]!]);

const implementations = {
  typeScript: (q: LocalFeatures, c: LocalFeatures) => verifyBefore(typeScriptMatcher, q, c),
  oneRow: (q: LocalFeatures, c: LocalFeatures) => verifyBefore(oneRowMatcher, q, c),
  now: (q: LocalFeatures, c: LocalFeatures) => verifyGeometry(q, c),
};
type Name = keyof typeof implementations;

// --- the same answers ---------------------------------------------------------------------------

let compared = 0;
let inliersSame = 0;
for (const [q, c] of [...same, ...different]) {
  const answers = Object.values(implementations).map((verify) => verify(q, c));
  if (new Set(answers).size !== 1) throw new Error(`different inlier counts: ${answers.join(' / ')}`);
  const matches = JSON.stringify(mutualMatches(q, c, defaultVerification.ratio));
  for (const matcher of [typeScriptMatcher, oneRowMatcher])
    if (JSON.stringify(matchesBefore(matcher, q, c, defaultVerification.ratio)) !== matches)
      throw new Error('different mutual matches');
  compared++;
}
for (const [q, c] of same) inliersSame += verifyGeometry(q, c);

// --- CPU per pair -------------------------------------------------------------------------------

const cpu: Record<'different' | 'same', Record<Name, number>> = {
  different: { typeScript: 0, oneRow: 0, now: 0 },
  same: { typeScript: 0, oneRow: 0, now: 0 },
};
// A warm-up round (not counted), so every implementation runs optimised code.
for (let round = -1; round < rounds; round++) {
  for (const [kind, pairs] of [
    ['different', different],
    ['same', same],
  ] as const) {
    for (const name of Object.keys(implementations) as Name[]) {
      const verify = implementations[name];
      // The TypeScript matcher is slow: a sample of the different pairs is enough.
      const sample =
        name === 'typeScript' && kind === 'different' ? pairs.filter((_, k) => k % 4 === 0) : pairs;
      const start = process.cpuUsage();
      for (const [q, c] of sample) verify(q, c);
      const used = process.cpuUsage(start);
      if (round >= 0) cpu[kind][name] += (used.user + used.system) / 1000 / sample.length / rounds;
    }
  }
}

const perPair = (value: number) => `${value.toFixed(3)} ms`;
const rows: Row[] = [];
for (const kind of ['different', 'same'] as const) {
  const what = kind === 'different' ? 'a different picture' : 'the same picture';
  const { typeScript, oneRow: first, now } = cpu[kind];
  rows.push(
    { measure: `verifyGeometry, ${what}, TypeScript matcher (before ed0ebea)`, value: perPair(typeScript) },
    {
      measure: `verifyGeometry, ${what}, WebAssembly one row per pass (ed0ebea)`,
      value: perPair(first),
      limit: perPair(typeScript),
      ratio: `${(typeScript / first).toFixed(1)}× cheaper`,
    },
    {
      measure: `verifyGeometry, ${what}, now`,
      value: perPair(now),
      limit: `${perPair(typeScript)} / ${perPair(first)}`,
      ratio: `${(typeScript / now).toFixed(1)}× / ${(first / now).toFixed(2)}× cheaper`,
      ...(kind === 'different'
        ? { bar: `≥ ${bar}× the TypeScript matcher`, verdict: typeScript / now >= bar ? 'pass' : 'miss' }
        : {}),
    },
  );
}
rows.push({
  measure: 'a search verifying all of its top 10 (different pictures), now',
  value: perPair(10 * cpu.different.now),
  limit: perPair(10 * cpu.different.typeScript),
});
await report('Geometric verification per candidate pair (issues #15/#18)', rows, [
  `${originals.length} fixture photos, each one's off-centre crop and 5° rotation as queries: ${different.length} pairs of different pictures, ${same.length} of the same picture (${(inliersSame / same.length).toFixed(0)} inliers on average); ORB features as the embedder finds them (up to 500 keypoints, 512-px copy).`,
  `Identical answers: the three gave the same inlier count and the same mutual matches on all ${compared} pairs.`,
  `CPU time of this process per pair, mean of ${rounds} interleaved rounds after one warm-up round (the TypeScript matcher on 1 in 4 of the different pairs).`,
]);
