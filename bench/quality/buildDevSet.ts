/**
 * The search-quality development set, rebuilt from Debian packages that ship photographs and
 * artwork (installed by `installDevSetPackages.sh`): every distinct picture is downsized to at
 * most 1024 px into `.stack/devset/originals/`, and each of `userEdits` is applied to every
 * original into `.stack/devset/edits/<edit>-<version>/` (the version is a hash of the edit's
 * code, so a changed edit is made again). Both folders are caches: delete them to rebuild.
 *   bash bench/quality/installDevSetPackages.sh && npx tsx bench/quality/buildDevSet.ts
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative } from 'node:path';
import sharp from 'sharp';
import { decodeImageRgb } from '@deeplens/embedder/decodeImageRgb';
import { type NearDuplicateEdit, userEdits } from '@deeplens/embedder/nearDuplicateEdits';
import { hammingDistance, perceptualHash } from '@deeplens/embedder/perceptualHash';

export const devSetDir = join(import.meta.dirname, '..', '..', '.stack', 'devset');

/** Where the packages put their pictures. */
const sourceRoots = [
  '/usr/share/backgrounds',
  '/usr/share/wallpapers',
  '/usr/share/desktop-base',
  '/usr/share/mypaint/backgrounds',
  '/usr/share/lxqt/wallpapers',
  '/usr/share/tuxpaint/templates',
  '/usr/share/tuxpaint/starters',
  '/usr/lib/python3/dist-packages/skimage/data',
];

/** Variants of one picture that would be each other's near-duplicates in the set. */
const skippedPaths = /\/(lockscreen|login|grub|wallpaper-withlogo)\/|_Portrait|FuturePrototypeWithLogo/;
const pictureExtensions = new Set(['.jpg', '.jpeg', '.png', '.webp', '.svg']);
const MIN_SIDE = 256;
const MAX_SIDE = 1024;
/** Two originals whose hashes are this close are one picture (resolutions, light/dark variants). */
const SAME_PICTURE_BITS = 8;

export type DevImage = { name: string; source: string; bytes: Buffer };

async function* walk(dir: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile() || entry.isSymbolicLink()) yield path;
  }
}

/**
 * One key per picture: resolutions of a KDE wallpaper package (`…/contents/images/WxH.ext`),
 * sway's per-resolution files and GNOME's `-l`/`-d` variants fall together.
 */
function pictureKey(path: string): string {
  const contents = path.indexOf('/contents/images');
  if (contents >= 0) return path.slice(0, contents);
  const name = basename(path, extname(path))
    .replace(/[_-]?\d{3,4}x\d{3,4}/g, '')
    .replace(/-([ld]|back)$/, '');
  return join(dirname(path), name);
}

/** The pictures the installed packages ship, one file per picture (the largest). */
async function findSources(): Promise<string[]> {
  const byKey = new Map<string, { path: string; size: number }>();
  const seen = new Set<string>();
  for (const root of sourceRoots) {
    for await (const found of walk(root)) {
      if (!pictureExtensions.has(extname(found).toLowerCase()) || skippedPaths.test(found)) continue;
      const path = await realpath(found).catch(() => undefined);
      if (!path || seen.has(path) || skippedPaths.test(path)) continue;
      seen.add(path);
      const { size } = await stat(path);
      const key = pictureKey(path);
      const known = byKey.get(key);
      if (!known || size > known.size) byKey.set(key, { path, size });
    }
  }
  return [...byKey.values()].map((v) => v.path).sort();
}

/** A downsized JPEG of a source picture, or undefined if it is too small or undecodable. */
async function downsize(path: string): Promise<Buffer | undefined> {
  try {
    const input = await readFile(path);
    const image = sharp(input, { density: extname(path) === '.svg' ? 150 : 72 }).rotate();
    const { width = 0, height = 0 } = await image.metadata();
    if (Math.min(width, height) < MIN_SIDE && extname(path) !== '.svg') return undefined;
    return await image
      .resize(MAX_SIDE, MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .jpeg({ quality: 92 })
      .toBuffer();
  } catch {
    return undefined;
  }
}

const hashOf = async (bytes: Uint8Array) =>
  perceptualHash(await decodeImageRgb(bytes, { width: 64, height: 64, resize: 'fill' }), 64, 64);

/** Builds (or reuses) the originals: distinct pictures, downsized. */
export async function loadOriginals(): Promise<DevImage[]> {
  const dir = join(devSetDir, 'originals');
  const manifestPath = join(devSetDir, 'originals.json');
  if (existsSync(manifestPath)) {
    const listed = JSON.parse(await readFile(manifestPath, 'utf8')) as { name: string; source: string }[];
    return Promise.all(listed.map(async (o) => ({ ...o, bytes: await readFile(join(dir, o.name)) })));
  }
  await mkdir(dir, { recursive: true });
  const kept: (DevImage & { hash: string })[] = [];
  let near = 0;
  for (const source of await findSources()) {
    const bytes = await downsize(source);
    if (!bytes) continue;
    const hash = await hashOf(bytes);
    if (kept.some((k) => hammingDistance(k.hash, hash) <= SAME_PICTURE_BITS)) {
      near++;
      continue;
    }
    const slug = relative('/usr', source)
      .replace(/[^A-Za-z0-9.-]+/g, '_')
      .replace(/\.[a-z]+$/i, '');
    const name = `${slug}.jpg`;
    await writeFile(join(dir, name), bytes);
    kept.push({ name, source, bytes, hash });
  }
  await writeFile(
    manifestPath,
    JSON.stringify(
      kept.map(({ name, source }) => ({ name, source })),
      null,
      1,
    ),
  );
  console.log(`dev set: ${kept.length} originals (${near} near-duplicate variants left out) in ${dir}`);
  return kept.map(({ name, source, bytes }) => ({ name, source, bytes }));
}

/** The folder of an edit's copies, named after the edit and a hash of its code. */
export function editDir(edit: NearDuplicateEdit): string {
  const version = createHash('sha256').update(edit.apply.toString()).digest('hex').slice(0, 8);
  return join(devSetDir, 'edits', `${edit.name.replace(/[^A-Za-z0-9]+/g, '_')}-${version}`);
}

/** Every original under `edit`, made once and then read from the cache; in the originals' order. */
export async function loadEdited(edit: NearDuplicateEdit, originals: readonly DevImage[]): Promise<Buffer[]> {
  const dir = editDir(edit);
  await mkdir(dir, { recursive: true });
  const out: Buffer[] = [];
  for (const original of originals) {
    const path = join(dir, original.name.replace(/\.jpg$/, '.img'));
    if (existsSync(path)) out.push(await readFile(path));
    else {
      const bytes = await edit.apply(original.bytes);
      await writeFile(path, bytes);
      out.push(bytes);
    }
  }
  return out;
}

if (import.meta.filename === process.argv[1]) {
  const originals = await loadOriginals();
  for (const edit of userEdits) await loadEdited(edit, originals);
  console.log(`dev set: ${originals.length} originals × ${userEdits.length} edits in ${devSetDir}`);
}
