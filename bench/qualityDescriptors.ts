/**
 * Descriptor v2 candidates on the development set (issue 15): the same backbone's last feature
 * map pooled in other ways — GeM (p = 3), regional GeM summed R-MAC-style, and PCA- or learned
 * whitening — measured at the descriptor stage and through the whole search pipeline (hash fusion
 * and geometric verification, as bench/quality.ts). Whitening is fitted on one half of the dev
 * originals (and their edited copies) and evaluated on the other half, both ways: the index of a
 * fold holds only its evaluation half, and every variant (the current `avg` too) is measured on
 * the same index.
 *
 *   npx tsx bench/qualityDescriptors.ts [--no-report] [--no-verification] [--variants <name prefix>,…]
 * `--variants` measures only the variants whose names start with one of the prefixes (e.g.
 * `--variants 'avg,GeM + learned'`: v1 against v2).
 *
 * The pooled regions of every image are cached in .stack/devset (one forward pass each).
 */
import { existsSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildBackboneModel } from '@deeplens/embedder/buildDefaultModel';
import { decodeImageRgb } from '@deeplens/embedder/decodeImageRgb';
import { decodeForSearch } from '@deeplens/embedder/decodeUpload';
import {
  decodeLocalFeatures,
  extractLocalFeatures,
  type LocalFeatures,
  verifyGeometry,
} from '@deeplens/embedder/localFeatures';
import { userEdits } from '@deeplens/embedder/nearDuplicateEdits';
import {
  defaultFusion,
  defaultVerificationRanking,
  fuseNearDuplicateRanking,
  promoteVerified,
} from '@deeplens/embedder/nearDuplicateRanking';
import { l2Normalize } from '@deeplens/embedder/pooling';
import { fitWhitening, pcaBasis, applyWhitening, type Whitening } from '@deeplens/embedder/poolingWhitening';
import { perceptualHash } from '@deeplens/embedder/perceptualHash';
import { benchDir } from './benchSupport.ts';
import { devSetDir, editDir, loadEdited, loadOriginals } from './quality/buildDevSet.ts';
import { DIM, normalised, pooledSlots as pooledSlotsOf, slot, SLOTS } from './quality/pooledSlots.ts';

const writeReport = !process.argv.includes('--no-report');
/** `--no-verification`: the whole-pipeline column stops at the hash fusion (no local features). */
const verifying = !process.argv.includes('--no-verification');
const variantsArg = process.argv.indexOf('--variants');
const onlyVariants =
  variantsArg >= 0 ? (process.argv[variantsArg + 1] ?? '').split(',').filter(Boolean) : null;

const built = await buildBackboneModel();
const manifest = built.manifest;
const pooledSlots = (images: readonly Uint8Array[], cache: string) => pooledSlotsOf(images, cache, manifest);

const originals = await loadOriginals();
const n = originals.length;
const originalSlots = await pooledSlots(
  originals.map((o) => o.bytes),
  join(devSetDir, 'originals-pooled-v1.f32'),
);
const editSlots: Float32Array[] = [];
const editBytes: Buffer[][] = [];
for (const edit of userEdits) {
  const edited = await loadEdited(edit, originals);
  editBytes.push(edited);
  editSlots.push(await pooledSlots(edited, join(editDir(edit), 'pooled-v1.f32')));
  console.log(`${edit.name}: pooled`);
}
if (process.argv.includes('--extract-only')) process.exit(0);

// --- Hashes and local features, for the whole pipeline (as bench/quality.ts: the edited copies'
// from its caches, the originals' afresh).
const space = 'mobilenet_v2_140_nsfwjs_mid@' + manifest.modelVersion + '_avg';
function unpackBlobs(packed: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < packed.length;) {
    const length = packed.readUInt32LE(at);
    out.push(packed.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}
const originalHashes: string[] = [];
const originalFeatures: LocalFeatures[] = [];
for (const o of originals) {
  const decoded = await decodeForSearch(o.bytes, { width: 224, height: 224, resize: 'fill' });
  originalHashes.push(decoded.perceptualHash);
  const grey = decoded.grey!;
  if (verifying)
    originalFeatures.push(
      decodeLocalFeatures(await extractLocalFeatures(grey.data, grey.width, grey.height))!,
    );
}
const editHashes: string[][] = [];
const editFeatures: LocalFeatures[][] = [];
for (const [e, edit] of userEdits.entries()) {
  const descriptions = join(editDir(edit), `descriptions-${space}.json`);
  const features = join(editDir(edit), 'local-features-v1.bin');
  if (existsSync(descriptions)) {
    const stored = JSON.parse(await readFile(descriptions, 'utf8')) as { perceptualHash: string }[];
    editHashes.push(stored.map((d) => d.perceptualHash));
  } else {
    const hashes: string[] = [];
    for (const b of editBytes[e]!) {
      const rgb = await decodeImageRgb(b, { width: 224, height: 224, resize: 'fill' });
      hashes.push(perceptualHash(rgb, 224, 224));
    }
    editHashes.push(hashes);
  }
  if (!verifying) continue;
  if (!existsSync(features)) throw new Error(`run bench/quality.ts first (${features} is missing)`);
  editFeatures.push(unpackBlobs(await readFile(features)).map((b) => decodeLocalFeatures(b)!));
}
const inlierCache = join(devSetDir, 'inliers-v1.json');
const inliers: Record<string, number> = existsSync(inlierCache)
  ? (JSON.parse(await readFile(inlierCache, 'utf8')) as Record<string, number>)
  : {};
const inliersOf = (e: number, q: number, candidate: number): number => {
  const key = `${e}|${q}|${candidate}`;
  return (inliers[key] ??= verifyGeometry(editFeatures[e]![q]!, originalFeatures[candidate]!));
};

/**
 * The verification of the whole-pipeline column: production's, stopping at the first candidate
 * with 40 inliers (the same for every variant; it keeps this measurement's cost down).
 */
const verification = { ...defaultVerificationRanking, stopAt: 40 };

// --- The variants, per fold.
type Variant = { name: string; describe: (all: Float32Array, image: number) => Float32Array };
/** Regional GeM: the unit-length regions summed (R-MAC-style), then whitened as one vector. */
const rmac = (w: Whitening | null) => (all: Float32Array, image: number) => {
  const sum = new Float32Array(DIM);
  for (let s = 1; s < SLOTS; s++) {
    const r = normalised(slot(all, image, s));
    for (let i = 0; i < DIM; i++) sum[i]! += r[i]!;
  }
  l2Normalize(sum);
  return w ? applyWhitening(w, sum) : sum;
};
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
type Score = { top1: number; mrr: number };
const results = new Map<string, Map<string, { descriptor: Score[]; pipeline: Score[] }>>();
const record = (variant: string, edit: string, stage: 'descriptor' | 'pipeline', fold: number, s: Score) => {
  const perVariant = results.get(variant) ?? new Map<string, { descriptor: Score[]; pipeline: Score[] }>();
  results.set(variant, perVariant);
  const cell = perVariant.get(edit) ?? { descriptor: [], pipeline: [] };
  perVariant.set(edit, cell);
  cell[stage][fold] = s;
};
const fitSeconds: string[] = [];

for (const fold of [0, 1]) {
  const train = [...Array(n).keys()].filter((i) => i % 2 === fold);
  const evaluate = [...Array(n).keys()].filter((i) => i % 2 !== fold);
  const samples: Float32Array[] = [];
  for (const i of train) for (let s = 1; s < SLOTS; s++) samples.push(normalised(slot(originalSlots, i, s)));
  for (const edited of editSlots) for (const i of train) samples.push(normalised(slot(edited, i, 1)));
  let t = performance.now();
  const basis = pcaBasis(samples, DIM);
  fitSeconds.push(
    `fold ${fold}: PCA of ${samples.length} × ${DIM} in ${((performance.now() - t) / 1000).toFixed(0)} s`,
  );
  const pairs = editSlots.flatMap((edited) =>
    train.map((i) => [normalised(slot(originalSlots, i, 1)), normalised(slot(edited, i, 1))] as const),
  );
  const globals = [
    ...train.map((i) => normalised(slot(originalSlots, i, 1))),
    ...editSlots.flatMap((edited) => train.map((i) => normalised(slot(edited, i, 1)))),
  ];
  const pcaw = new Map<number, Whitening>();
  for (const d of [256, 512, 1024]) pcaw.set(d, fitWhitening(basis, { outputDim: d }));
  t = performance.now();
  const lw = fitWhitening(basis, { outputDim: 512, pairs, samples: globals, subspace: 768 });
  fitSeconds.push(`fold ${fold}: learned whitening in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  const variants: Variant[] = [
    { name: 'avg (current)', describe: (all, i) => normalised(slot(all, i, 0)) },
    { name: 'GeM p=3', describe: (all, i) => normalised(slot(all, i, 1)) },
    ...[...pcaw].map(([d, w]) => ({
      name: `GeM + PCA-whitening ${d}`,
      describe: (all: Float32Array, i: number) => applyWhitening(w, normalised(slot(all, i, 1))),
    })),
    {
      name: 'GeM + learned whitening 512',
      describe: (all, i) => applyWhitening(lw, normalised(slot(all, i, 1))),
    },
    { name: 'regional GeM summed (R-MAC-style), no whitening', describe: rmac(null) },
    { name: 'regional GeM summed + PCA-whitening 512', describe: rmac(pcaw.get(512)!) },
    { name: 'regional GeM summed + learned whitening 512', describe: rmac(lw) },
  ];
  for (const variant of variants) {
    if (onlyVariants && !onlyVariants.some((prefix) => variant.name.startsWith(prefix))) continue;
    const index = evaluate.map((i) => variant.describe(originalSlots, i));
    for (const [e, edit] of userEdits.entries()) {
      let top1 = 0;
      let mrr = 0;
      let top1p = 0;
      let mrrp = 0;
      for (const [at, q] of evaluate.entries()) {
        const v = variant.describe(editSlots[e]!, q);
        const scores = index.map((o) => {
          let dot = 0;
          for (let d = 0; d < v.length; d++) dot += o[d]! * v[d]!;
          return dot;
        });
        const order = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]! || a - b);
        const rank = order.indexOf(at);
        top1 += rank === 0 ? 1 : 0;
        mrr += 1 / (rank + 1);
        const fused = fuseNearDuplicateRanking(
          editHashes[e]![q],
          order
            .slice(0, defaultFusion.depth)
            .map((j) => ({ j, perceptualHash: originalHashes[evaluate[j]!]! })),
        );
        const final = promoteVerified(
          fused,
          (c) => (verifying ? inliersOf(e, q, evaluate[c.j]!) : null),
          verification,
        );
        const inHead = final.findIndex((c) => c.j === at);
        const rankp = inHead >= 0 ? inHead : rank;
        top1p += rankp === 0 ? 1 : 0;
        mrrp += 1 / (rankp + 1);
      }
      const m = evaluate.length;
      record(variant.name, edit.name, 'descriptor', fold, { top1: top1 / m, mrr: mrr / m });
      record(variant.name, edit.name, 'pipeline', fold, { top1: top1p / m, mrr: mrrp / m });
    }
    console.log(`fold ${fold}: ${variant.name} measured`);
    await writeFile(inlierCache, JSON.stringify(inliers));
  }
}

// --- Tables: per variant, per edit class: descriptor alone and the whole pipeline, each fold.
const mean = (xs: Score[]) => ({
  top1: xs.reduce((s, x) => s + x.top1, 0) / xs.length,
  mrr: xs.reduce((s, x) => s + x.mrr, 0) / xs.length,
});
const cell = (xs: Score[]) => xs.map((x) => `${pct(x.top1)} / ${x.mrr.toFixed(3)}`).join(' · ');
const lines = [
  '',
  `Descriptor v2 candidates (bench/qualityDescriptors.ts): whitening fitted on half of the ${n} originals (and their edited copies), evaluated on the other half (index = that half only); each cell: fold A · fold B (top-1 / MRR).`,
  '',
  `| variant | descriptor alone, all edits | whole pipeline (hash fusion${verifying ? ' + verification, stop at 40 inliers' : ' only'}), all edits | descriptor alone, off-centre crop | framed screenshot | text watermark | small WebP |`,
  '| --- | --- | --- | --- | --- | --- | --- |',
];
for (const [name, perEdit] of results) {
  const all = (stage: 'descriptor' | 'pipeline') =>
    [0, 1].map((f) => mean([...perEdit.values()].map((c) => c[stage][f]!)));
  const edit = (part: string) => cell([...perEdit].find(([e]) => e.includes(part))![1].descriptor);
  lines.push(
    `| ${name} | ${cell(all('descriptor'))} | ${cell(all('pipeline'))} | ${edit('crop')} | ${edit('screenshot')} | ${edit('watermark')} | ${edit('WebP')} |`,
  );
}
const best = [...results.keys()];
lines.push(
  '',
  `Per edit class, whole pipeline (${verifying ? 'with verification' : 'hash fusion only'}; both folds pooled, top-1 / MRR):`,
  '',
);
lines.push(`| edit | ${best.join(' | ')} |`, `| --- | ${best.map(() => '---').join(' | ')} |`);
for (const edit of userEdits.map((e) => e.name)) {
  lines.push(
    `| ${edit} | ${best
      .map((b) => {
        const m = mean(results.get(b)!.get(edit)!.pipeline);
        return `${pct(m.top1)} / ${m.mrr.toFixed(3)}`;
      })
      .join(' | ')} |`,
  );
}
lines.push('', ...fitSeconds.map((x) => `- ${x}`), '');
console.log(lines.join('\n'));
if (writeReport) await appendFile(join(benchDir, 'RESULTS.md'), lines.join('\n'));
