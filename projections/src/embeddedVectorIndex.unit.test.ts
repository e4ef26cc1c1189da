import assert from 'node:assert/strict';
import { appendFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { deterministicUuid } from '@deeplens/platform/ids';
import { openEmbeddedVectorIndex } from './embeddedVectorIndex.ts';

const id = (n: number) => deterministicUuid('wal-test', String(n));
const point = (n: number) => ({
  id: id(n),
  vector: Float32Array.from([Math.cos(n), Math.sin(n), 0.5]),
  payload: { tags: [`t${n % 3}`], attributes: {} },
});

async function folder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'deeplens-wal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('embedded vector index durability', () => {
  it('keeps committed changes and drops uncommitted ones across a crash', async (t) => {
    const dir = await folder(t);
    const writer = await openEmbeddedVectorIndex({ dir });
    await writer.upsert('c', [point(1), point(2)]);
    await writer.commit({ checkpoints: { 'topic:0': 1 } });
    await writer.upsert('c', [point(3)]);
    await writer.delete('c', [id(1)]);
    // No close: the process "dies" here; a new writer opens the same folder.
    const reopened = await openEmbeddedVectorIndex({ dir });
    assert.deepEqual(await reopened.ids('c'), [id(1), id(2)].sort());
    assert.deepEqual(await reopened.committedState(), { checkpoints: { 'topic:0': 1 } });
    await reopened.close();
  });

  it('cuts off a torn log tail', async (t) => {
    const dir = await folder(t);
    const writer = await openEmbeddedVectorIndex({ dir });
    await writer.upsert('c', [point(1)]);
    await writer.commit({ n: 1 });
    appendFileSync(join(dir, 'wal-0.log'), Buffer.from([200, 0, 0, 0, 1, 2, 3]));
    const reopened = await openEmbeddedVectorIndex({ dir });
    await reopened.upsert('c', [point(2)]);
    await reopened.commit({ n: 2 });
    await reopened.close();
    const again = await openEmbeddedVectorIndex({ dir });
    assert.deepEqual(await again.ids('c'), [id(1), id(2)].sort());
    assert.deepEqual(await again.committedState(), { n: 2 });
    await again.close();
  });

  it('folds the log into snapshots, and a follower keeps up across them', async (t) => {
    const dir = await folder(t);
    const writer = await openEmbeddedVectorIndex({ dir, snapshotAfterBytes: 2_000 });
    const follower = await openEmbeddedVectorIndex({ dir, mode: 'follower', followIntervalMs: 10_000 });
    for (let n = 0; n < 60; n++) {
      await writer.upsert('c', [point(n)]);
      if (n % 7 === 0) await writer.delete('c', [id(n - 1)]);
      await writer.commit({ n });
      if (n % 5 === 0) follower.refresh();
    }
    follower.refresh();
    assert.ok(
      readdirSync(dir).some((f) => f.startsWith('snapshot-')),
      'snapshots were written',
    );
    assert.deepEqual(await follower.ids('c'), await writer.ids('c'));
    assert.deepEqual(await follower.committedState(), { n: 59 });
    const query = Float32Array.from([1, 0, 0.5]);
    assert.deepEqual(await follower.search('c', query, { k: 5 }), await writer.search('c', query, { k: 5 }));
    await assert.rejects(follower.upsert('c', [point(99)]), /read-only/);
    await writer.close();
    const reopened = await openEmbeddedVectorIndex({ dir });
    assert.equal(await reopened.count('c'), await follower.count('c'));
    await reopened.close();
    await follower.close();
  });
});
