/**
 * Which descriptor similarity says "the same picture" in the default embedding space (issue 15,
 * `/v1/duplicates`): on the development set (bench/quality/buildDevSet.ts), the cosine of every
 * (original, edited copy) pair per edit class against the cosine of every edited copy with its
 * nearest original that is NOT its own (the unrelated pair a duplicate search would meet first),
 * and the precision / recall of "same picture" at thresholds 0.60–0.98: by the descriptor alone,
 * and by "descriptor ≥ t OR geometrically verified" (≥ 15 inliers, as search verifies). The
 * default threshold of the space is the lowest (highest recall) whose descriptor-alone precision
 * is ≥ 99.5 %; where none is (the set holds distinct originals that are near-identical — variants
 * of one wallpaper — whose pairs no threshold separates: they stay above 0.95), the lowest whose
 * unrelated pairs exceed those at 0.95 by at most 0.1 % of the queries
 * (embedder/src/duplicateThresholds.ts keeps it).
 *
 *   bash bench/quality/installDevSetPackages.sh   # once
 *   npx tsx bench/quality.ts --no-report          # once: caches the edited copies' descriptions and features
 *   npx tsx bench/qualityDuplicates.ts [--no-report]
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildDefaultModel } from '@deeplens/embedder/buildDefaultModel';
import { decodeLocalFeatures, type LocalFeatures, verifyGeometry } from '@deeplens/embedder/localFeatures';
import { userEdits } from '@deeplens/embedder/nearDuplicateEdits';
import { defaultVerificationRanking } from '@deeplens/embedder/nearDuplicateRanking';
import { type ImageDescription, loadEmbeddingModel } from '@deeplens/embedder/onnxEmbeddingModel';
import { report, type Row, scope } from './benchSupport.ts';
import { devSetDir, editDir, loadOriginals } from './quality/buildDevSet.ts';

const writeReport = !process.argv.includes('--no-report');
const PRECISION_BAR = 0.995;
const thresholds = Array.from({ length: 39 }, (_, i) => Math.round((0.6 + i * 0.01) * 100) / 100);

function unpackBlobs(packed: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < packed.length;) {
    const length = packed.readUInt32LE(at);
    out.push(packed.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}
const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const quantile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

const s = scope();
try {
  const originals = await loadOriginals();
  const model = await loadEmbeddingModel((await buildDefaultModel()).manifest);
  s.after(() => model.close());
  const space = model.embeddingSpace;
  const indexed: ImageDescription[] = [];
  for (let start = 0; start < originals.length; start += 16) {
    for (const r of await model.describeSettled(
      originals.slice(start, start + 16).map((o) => o.bytes),
      { localFeatures: true },
    )) {
      if (r instanceof Error) throw r;
      indexed.push(r);
    }
  }
  const indexedFeatures = indexed.map((d) => decodeLocalFeatures(d.localFeatures)!);
  const inlierCache = join(devSetDir, 'inliers-v1.json');
  const inlierStore: Record<string, number> = existsSync(inlierCache)
    ? (JSON.parse(await readFile(inlierCache, 'utf8')) as Record<string, number>)
    : {};
  const minInliers = defaultVerificationRanking.minInliers;

  type Pair = { edit: string; cosine: number; verified: boolean };
  const same: Pair[] = [];
  const unrelated: Pair[] = [];
  for (const [e, edit] of userEdits.entries()) {
    const cache = join(editDir(edit), `descriptions-${space.replace(/[^\w.@-]+/g, '_')}.json`);
    const featureCache = join(editDir(edit), 'local-features-v1.bin');
    if (!existsSync(cache) || !existsSync(featureCache))
      throw new Error(
        `${cache} or ${featureCache} is missing: run npx tsx bench/quality.ts --no-report first`,
      );
    const stored = JSON.parse(await readFile(cache, 'utf8')) as { vector: number[] }[];
    const features = unpackBlobs(await readFile(featureCache)).map((b) => decodeLocalFeatures(b)!);
    const inliers = (q: number, i: number, f: LocalFeatures) =>
      (inlierStore[`${e}|${q}|${i}`] ??= verifyGeometry(f, indexedFeatures[i]!));
    for (const [q, d] of stored.entries()) {
      const vector = Float32Array.from(d.vector);
      let best = -1;
      let bestCosine = -Infinity;
      for (let i = 0; i < indexed.length; i++) {
        if (i === q) continue;
        const c = dot(vector, indexed[i]!.vector);
        if (c > bestCosine) [best, bestCosine] = [i, c];
      }
      same.push({
        edit: edit.name,
        cosine: dot(vector, indexed[q]!.vector),
        verified: inliers(q, q, features[q]!) >= minInliers,
      });
      unrelated.push({
        edit: edit.name,
        cosine: bestCosine,
        verified: inliers(q, best, features[q]!) >= minInliers,
      });
    }
    console.log(`${edit.name}: measured`);
  }
  await writeFile(inlierCache, JSON.stringify(inlierStore));

  const rows: Row[] = [];
  for (const edit of userEdits) {
    const c = same
      .filter((p) => p.edit === edit.name)
      .map((p) => p.cosine)
      .sort((a, b) => a - b);
    const v = same.filter((p) => p.edit === edit.name && p.verified).length;
    rows.push({
      measure: `${edit.name}: cosine with its original p5 / p50 / p95; verified`,
      value: `${quantile(c, 0.05).toFixed(3)} / ${quantile(c, 0.5).toFixed(3)} / ${quantile(c, 0.95).toFixed(3)}; ${((100 * v) / c.length).toFixed(1)} %`,
    });
  }
  const u = unrelated.map((p) => p.cosine).sort((a, b) => a - b);
  rows.push({
    measure: 'nearest other original: cosine p50 / p99 / max; verified',
    value: `${quantile(u, 0.5).toFixed(3)} / ${quantile(u, 0.99).toFixed(3)} / ${u[u.length - 1]!.toFixed(3)}; ${unrelated.filter((p) => p.verified).length} of ${u.length}`,
  });
  const measure = (rule: (p: Pair) => boolean) => {
    const tp = same.filter(rule).length;
    const fp = unrelated.filter(rule).length;
    return { precision: tp + fp ? tp / (tp + fp) : 1, recall: tp / same.length, fp };
  };
  let chosen: number | undefined;
  for (const t of thresholds) {
    const d = measure((p) => p.cosine >= t);
    const o = measure((p) => p.cosine >= t || p.verified);
    if (chosen === undefined && d.precision >= PRECISION_BAR) chosen = t;
    rows.push({
      measure: `t = ${t.toFixed(2)}: descriptor ≥ t · descriptor ≥ t OR verified (precision / recall / unrelated pairs in)`,
      value: `${(100 * d.precision).toFixed(2)} % / ${(100 * d.recall).toFixed(1)} % / ${d.fp} · ${(100 * o.precision).toFixed(2)} % / ${(100 * o.recall).toFixed(1)} % / ${o.fp}`,
    });
  }
  let rule = `highest recall at descriptor-alone precision ≥ ${100 * PRECISION_BAR} %`;
  if (chosen === undefined) {
    const floor = measure((p) => p.cosine >= 0.95).fp;
    chosen = thresholds.find((t) => measure((p) => p.cosine >= t).fp - floor <= 0.001 * same.length);
    rule = `none reaches ${100 * PRECISION_BAR} % precision; lowest whose unrelated pairs exceed those at 0.95 (${floor}) by ≤ 0.1 % of queries`;
  }
  const verifiedOnly = measure((p) => p.verified);
  rows.push({
    measure: 'verified alone (precision / recall / unrelated pairs in)',
    value: `${(100 * verifiedOnly.precision).toFixed(2)} % / ${(100 * verifiedOnly.recall).toFixed(1)} % / ${verifiedOnly.fp}`,
  });
  rows.push({
    measure: `chosen threshold: ${rule}`,
    value: chosen === undefined ? 'none in 0.60–0.98' : chosen.toFixed(2),
    verdict: chosen === undefined ? 'FAIL' : 'ok',
  });
  const notes = [
    `Space ${space}; ${same.length} (original, edited copy) pairs against ${unrelated.length} (edited copy, nearest other original) pairs; verified = ≥ ${minInliers} inliers.`,
  ];
  if (writeReport) await report('Duplicate thresholds (issue 15)', rows, notes);
  else console.table(rows.map((r) => ({ measure: r.measure, value: r.value })));
} finally {
  await s.close();
}
