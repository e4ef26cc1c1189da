import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { DeepLensApiError, DeepLensUnreachableError } from '@deeplens/client/clientErrors';
import type { DeepLensClient } from '@deeplens/client/deepLensClient';

/** The file types DeepLens accepts, by extension (the server checks the bytes themselves). */
export const importableTypes: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

export type ImportableFile = { path: string; relativePath: string; type: string };

/** Every importable file under `folder`, in a stable order; hidden folders are skipped. */
export async function findImportableFiles(
  folder: string,
): Promise<{ files: ImportableFile[]; skipped: string[] }> {
  const files: ImportableFile[] = [];
  const skipped: string[] = [];
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const relativePath = relative(folder, path).split(sep).join('/');
    if (relativePath.split('/').some((part) => part.startsWith('.'))) continue;
    const type = importableTypes[extname(entry.name).toLowerCase()];
    if (type) files.push({ path, relativePath, type });
    else skipped.push(relativePath);
  }
  files.sort((a, b) => (a.relativePath < b.relativePath ? -1 : a.relativePath > b.relativePath ? 1 : 0));
  return { files, skipped: skipped.sort() };
}

/**
 * The Idempotency-Key of one file's upload: the same file (path and bytes) with the same
 * metadata always gets the same key, so importing a folder again stores nothing twice.
 */
export function importIdempotencyKey(file: {
  relativePath: string;
  sha256: string;
  tags: string[];
  attributes: Record<string, string>;
}): string {
  const attributes = Object.entries(file.attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const identity = JSON.stringify([file.relativePath, file.sha256, [...file.tags].sort(), attributes]);
  return `deeplens-import-${createHash('sha256').update(identity).digest('hex')}`;
}

export type ImportOutcome =
  | { file: string; bytes: number; status: 'new' | 'existing'; imageId: string }
  | { file: string; bytes: number; status: 'failed'; reason: string };

export type ImportProgress = { done: number; total: number; failed: number; bytes: number };

/**
 * Uploads each file in its own request, `concurrency` at a time. A file the server refuses is
 * recorded with the reason and the rest go on; an error that would refuse every file (server
 * unreachable, not signed in, no permission, quota or rate limit) stops the import and is thrown
 * once the uploads in flight have finished.
 */
export async function importFiles(
  client: Pick<DeepLensClient, 'uploadImages'>,
  files: ImportableFile[],
  options: {
    tags: string[];
    attributes: Record<string, string>;
    concurrency: number;
    onProgress?: (progress: ImportProgress) => void;
  },
): Promise<ImportOutcome[]> {
  const outcomes: ImportOutcome[] = [];
  const progress: ImportProgress = { done: 0, total: files.length, failed: 0, bytes: 0 };
  let next = 0;
  let fatal: Error | undefined;

  async function importOne(file: ImportableFile): Promise<ImportOutcome> {
    const bytes = await readFile(file.path);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const idempotencyKey = importIdempotencyKey({
      ...file,
      sha256,
      tags: options.tags,
      attributes: options.attributes,
    });
    try {
      const result = await client.uploadImages([{ filename: file.relativePath, bytes, type: file.type }], {
        tags: options.tags,
        attributes: options.attributes,
        idempotencyKey,
      });
      const image = result.images[0];
      if (!image)
        return {
          file: file.relativePath,
          bytes: bytes.length,
          status: 'failed',
          reason: 'no image in the answer',
        };
      return {
        file: file.relativePath,
        bytes: bytes.length,
        status: result.replayed ? 'existing' : 'new',
        imageId: image.id,
      };
    } catch (error) {
      if (stopsTheImport(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      return { file: file.relativePath, bytes: bytes.length, status: 'failed', reason };
    }
  }

  async function worker(): Promise<void> {
    while (fatal === undefined && next < files.length) {
      const file = files[next++]!;
      try {
        const outcome = await importOne(file);
        outcomes.push(outcome);
        progress.done++;
        progress.bytes += outcome.bytes;
        if (outcome.status === 'failed') progress.failed++;
        options.onProgress?.({ ...progress });
      } catch (error) {
        fatal ??= error instanceof Error ? error : new Error(String(error));
      }
    }
  }

  await Promise.all(Array.from({ length: Math.min(options.concurrency, files.length) }, worker));
  if (fatal !== undefined) throw fatal;
  const order = new Map(files.map((f, i) => [f.relativePath, i]));
  return outcomes.sort((a, b) => order.get(a.file)! - order.get(b.file)!);
}

function stopsTheImport(error: unknown): boolean {
  if (error instanceof DeepLensUnreachableError) return true;
  return error instanceof DeepLensApiError && [401, 403, 429].includes(error.status);
}
