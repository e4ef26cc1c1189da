/**
 * Fits descriptor v2's learned whitening (issue 15) on the whole development set and writes the
 * artefact the default model's space is versioned by: `embedder/models/<name>.dlwh` (the `DLWH`
 * format of `poolingWhitening.ts`) and its provenance `<name>.json` (sha256, the backbone it was
 * fitted on, the recipe, this command). Deterministic: the same dev set and backbone give the same
 * bytes (one forward pass per image, cached in `.stack/devset`; the fit is plain JavaScript).
 *
 *   bash bench/quality/installDevSetPackages.sh   # once
 *   npx tsx bench/qualityWhitening.ts [--check]   # --check: fit, compare with the committed file, write nothing
 *
 * Recipe (the one `bench/qualityDescriptors.ts` measured on held-out halves): GeM (p = 3) of the
 * backbone's last feature map, unit length; PCA of every original's regions and every edited
 * copy; learned whitening (Radenović et al.) from the pairs (original, edited copy) of every edit
 * class, in the top 768 principal directions, to 512 dimensions.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildBackboneModel, DESCRIPTOR_V2 } from '@deeplens/embedder/buildDefaultModel';
import { userEdits } from '@deeplens/embedder/nearDuplicateEdits';
import { encodeWhitening, fitWhitening, pcaBasis } from '@deeplens/embedder/poolingWhitening';
import { devSetDir, editDir, loadEdited, loadOriginals } from './quality/buildDevSet.ts';
import { normalised, pooledSlots, slot, SLOTS } from './quality/pooledSlots.ts';

const check = process.argv.includes('--check');
const { manifest: backbone } = await buildBackboneModel();
const originals = await loadOriginals();
const n = originals.length;
const originalSlots = await pooledSlots(
  originals.map((o) => o.bytes),
  join(devSetDir, 'originals-pooled-v1.f32'),
  backbone,
);
const editSlots: Float32Array[] = [];
for (const edit of userEdits) {
  const edited = await loadEdited(edit, originals);
  editSlots.push(await pooledSlots(edited, join(editDir(edit), 'pooled-v1.f32'), backbone));
}

const started = performance.now();
const all = [...Array(n).keys()];
const samples: Float32Array[] = [];
for (const i of all) for (let s = 1; s < SLOTS; s++) samples.push(normalised(slot(originalSlots, i, s)));
for (const edited of editSlots) for (const i of all) samples.push(normalised(slot(edited, i, 1)));
const basis = pcaBasis(samples, backbone.dimension);
const pairs = editSlots.flatMap((edited) =>
  all.map((i) => [normalised(slot(originalSlots, i, 1)), normalised(slot(edited, i, 1))] as const),
);
const globals = [
  ...all.map((i) => normalised(slot(originalSlots, i, 1))),
  ...editSlots.flatMap((edited) => all.map((i) => normalised(slot(edited, i, 1)))),
];
const fit = { outputDim: DESCRIPTOR_V2.dimension, subspace: 768, shrinkage: 0.1 };
const whitening = fitWhitening(basis, { ...fit, pairs, samples: globals });
const bytes = encodeWhitening(whitening);
const sha256 = createHash('sha256').update(bytes).digest('hex');
const seconds = (performance.now() - started) / 1000;
console.log(
  `fitted ${whitening.inputDim} → ${whitening.outputDim} on ${n} originals × ${userEdits.length} edits ` +
    `(${samples.length} PCA samples, ${pairs.length} pairs) in ${seconds.toFixed(0)} s: sha256 ${sha256}`,
);

if (check) {
  const committed = createHash('sha256')
    .update(await readFile(DESCRIPTOR_V2.whiteningPath))
    .digest('hex');
  console.log(
    committed === sha256 ? 'same as the committed file' : `DIFFERS from the committed file (${committed})`,
  );
  process.exit(committed === sha256 ? 0 : 1);
}
await writeFile(DESCRIPTOR_V2.whiteningPath, bytes);
const provenance = {
  format:
    'DLWH 1 (u32 LE magic, format, input and output dimensions; f32 LE mean, then the projection row-major)',
  sha256,
  inputDimension: whitening.inputDim,
  outputDimension: whitening.outputDim,
  backbone: { modelId: backbone.modelId, modelVersion: backbone.modelVersion, sha256: backbone.sha256 },
  pooling: { kind: 'gem', p: DESCRIPTOR_V2.gemP },
  recipe: {
    method: 'learned whitening (Radenović et al. 2018): pairs whitened, then the corpus principal directions',
    pcaSamples: `GeM of the ${SLOTS - 1} regions of every original and of every edited copy (${samples.length})`,
    pairs: `(original, edited copy) for each of the ${userEdits.length} edit classes (${pairs.length})`,
    edits: userEdits.map((e) => e.name),
    originals: n,
    ...fit,
  },
  devSet: 'bench/quality/buildDevSet.ts (Debian packages listed in bench/quality/installDevSetPackages.sh)',
  command: 'npx tsx bench/qualityWhitening.ts',
};
await writeFile(DESCRIPTOR_V2.provenancePath, JSON.stringify(provenance, null, 2) + '\n');
console.log(`wrote ${DESCRIPTOR_V2.whiteningPath} and ${DESCRIPTOR_V2.provenancePath}`);
