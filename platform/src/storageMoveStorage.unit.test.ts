import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { NotFoundError } from './errors.ts';
import { fileSystemObjectStore } from './objectStore.ts';
import { objectKeyIn, withStorageMoves } from './storageMoveStorage.ts';
import {
  imageObjectKey,
  thumbnailObjectKey,
  type TenantStorage,
  type TenantWithStorage,
} from './tenantStorage.ts';

const sha = 'ab'.repeat(32);

describe('storage during a move', () => {
  it('relocates content-addressed keys to the target prefix and leaves other keys alone', () => {
    const target = { keyOf: (s: string) => imageObjectKey(s, 'new/') } as TenantStorage;
    assert.equal(objectKeyIn(target, imageObjectKey(sha, 'old/deeper')), `new/images/ab/${sha}`);
    assert.equal(objectKeyIn(target, thumbnailObjectKey(sha, 256)), `new/thumbnails/ab/${sha}-256.webp`);
    assert.equal(objectKeyIn(target, 'exports/report.csv'), 'exports/report.csv');
  });

  it('writes to the target, reads the target first, falls back to the source until completed', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'storage-move-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const store = fileSystemObjectStore(dir);
    // Two places: the source with no prefix, the target under a prefix in another bucket.
    const places: Record<string, TenantStorage> = {
      source: {
        store,
        bucket: 'source-bucket',
        keyOf: (s) => imageObjectKey(s),
        thumbnailKeyOf: (s, n) => thumbnailObjectKey(s, n),
      },
      target: {
        store,
        bucket: 'target-bucket',
        keyOf: (s) => imageObjectKey(s, 'moved'),
        thumbnailKeyOf: (s, n) => thumbnailObjectKey(s, n, 'moved'),
      },
    };
    const sourceSettings = {
      endpoint: 'source',
      bucket: '',
      region: '',
      prefix: '',
      accessKeyId: '',
      encryptedSecret: '',
    };
    const resolve = withStorageMoves(
      () => places.target!,
      (tenant) => (tenant.storage?.endpoint === 'source' ? places.source! : assert.fail('not the source')),
    );
    const tenant = (status: 'copying' | 'completed'): TenantWithStorage => ({
      tenantId: 't',
      version: 3,
      storage: null,
      storageMove: { status, from: status === 'completed' ? null : sourceSettings },
    });

    const oldKey = imageObjectKey(sha);
    await store.put('source-bucket', oldKey, Buffer.from('old bytes'), 'image/png');
    const moving = resolve(tenant('copying'));
    assert.equal(
      await text(await moving.store.get(moving.bucket, oldKey)),
      'old bytes',
      'read from the source',
    );
    assert.equal((await moving.store.stat(moving.bucket, oldKey))?.size, 9);

    const newSha = 'cd'.repeat(32);
    await moving.store.put(moving.bucket, moving.keyOf(newSha), Buffer.from('new bytes'), 'image/png');
    assert.ok(
      await store.stat('target-bucket', `moved/images/cd/${newSha}`),
      'an upload lands in the target',
    );
    assert.equal(await store.stat('source-bucket', imageObjectKey(newSha)), undefined);

    // Copied: the target's copy (under its prefix) answers for the key recorded under the source's.
    await store.put('target-bucket', `moved/${oldKey}`, Buffer.from('copied bytes'), 'image/png');
    assert.equal(await text(await moving.store.get(moving.bucket, oldKey)), 'copied bytes');

    await store.delete('target-bucket', `moved/${oldKey}`);
    const done = resolve(tenant('completed'));
    await assert.rejects(done.store.get(done.bucket, oldKey), NotFoundError, 'no fallback once completed');
  });
});
