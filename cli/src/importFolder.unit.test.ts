import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DeepLensApiError, problemOf } from '@deeplens/client/clientErrors';
import type { UploadFile, UploadOptions, UploadResult } from '@deeplens/client/clientTypes';
import { findImportableFiles, importFiles, importIdempotencyKey } from './importFolder.ts';

const apiError = (status: number, detail: string) =>
  new DeepLensApiError(problemOf(status, '', { status, code: `c${status}`, detail }), 'POST /v1/images');

async function folderWith(files: Record<string, string>) {
  const root = await mkdtemp(join(tmpdir(), 'deeplens-import-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

describe('importIdempotencyKey', () => {
  const file = {
    relativePath: 'a/cat.jpg',
    sha256: 'ab'.repeat(32),
    tags: ['b', 'a'],
    attributes: { y: '1', x: '2' },
  };

  it('is the same for the same file and metadata, whatever their order', () => {
    const key = importIdempotencyKey(file);
    assert.match(key, /^deeplens-import-[0-9a-f]{64}$/);
    assert.equal(importIdempotencyKey({ ...file, tags: ['a', 'b'], attributes: { x: '2', y: '1' } }), key);
  });

  it('differs when the bytes, the path or the metadata differ', () => {
    const key = importIdempotencyKey(file);
    for (const changed of [
      { ...file, sha256: 'cd'.repeat(32) },
      { ...file, relativePath: 'b/cat.jpg' },
      { ...file, tags: ['a'] },
      { ...file, attributes: { x: '2' } },
    ])
      assert.notEqual(importIdempotencyKey(changed), key);
  });
});

describe('findImportableFiles', () => {
  it('finds images recursively by extension, skipping other files and hidden folders', async (t) => {
    const root = await folderWith({
      'b.PNG': 'x',
      'a/c.jpeg': 'x',
      'a/notes.txt': 'x',
      '.git/x.jpg': 'x',
      'z.webp': 'x',
    });
    t.after(() => rm(root, { recursive: true, force: true }));
    const { files, skipped } = await findImportableFiles(root);
    assert.deepEqual(
      files.map((f) => [f.relativePath, f.type]),
      [
        ['a/c.jpeg', 'image/jpeg'],
        ['b.PNG', 'image/png'],
        ['z.webp', 'image/webp'],
      ],
    );
    assert.deepEqual(skipped, ['a/notes.txt']);
  });
});

describe('importFiles', () => {
  it('uploads each file with its key, records refusals and goes on', async (t) => {
    const root = await folderWith({ 'a.jpg': 'aaa', 'b.jpg': 'bb', 'c.jpg': 'c' });
    t.after(() => rm(root, { recursive: true, force: true }));
    const { files } = await findImportableFiles(root);
    const keys: string[] = [];
    const client = {
      async uploadImages(upload: UploadFile[], options?: UploadOptions): Promise<UploadResult> {
        keys.push(options!.idempotencyKey!);
        const name = upload[0]!.filename;
        if (name === 'b.jpg') throw apiError(415, 'not an image');
        return {
          images: [{ id: `id-${name}` } as UploadResult['images'][number]],
          replayed: name === 'c.jpg',
        };
      },
    };
    const progress: number[] = [];
    const outcomes = await importFiles(client, files, {
      tags: [],
      attributes: {},
      concurrency: 2,
      onProgress: (p) => progress.push(p.done),
    });
    assert.deepEqual(outcomes, [
      { file: 'a.jpg', bytes: 3, status: 'new', imageId: 'id-a.jpg' },
      { file: 'b.jpg', bytes: 2, status: 'failed', reason: 'not an image (415 c415)' },
      { file: 'c.jpg', bytes: 1, status: 'existing', imageId: 'id-c.jpg' },
    ]);
    assert.equal(new Set(keys).size, 3);
    assert.deepEqual(progress, [1, 2, 3]);
  });

  it('stops at an error every file would meet', async (t) => {
    const root = await folderWith(
      Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`${i}.jpg`, 'x'])),
    );
    t.after(() => rm(root, { recursive: true, force: true }));
    const { files } = await findImportableFiles(root);
    let calls = 0;
    const client = {
      async uploadImages(): Promise<UploadResult> {
        calls++;
        throw apiError(401, 'the access token has expired');
      },
    };
    await assert.rejects(importFiles(client, files, { tags: [], attributes: {}, concurrency: 2 }), /expired/);
    assert.equal(calls, 2);
  });
});
