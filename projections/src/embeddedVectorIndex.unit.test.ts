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

describe('embedded vector index search', () => {
  const dim = 32;
  /** Seeded gaussian vectors, so every run searches the same ones. */
  function vectors(n: number, seed: number): Float32Array[] {
    let a = seed;
    const uniform = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
    return Array.from({ length: n }, () => Float32Array.from({ length: dim }, gaussian));
  }
  const pointOf = (n: number, vector: Float32Array) => ({
    id: id(n),
    vector,
    payload: { tags: [n % 2 === 0 ? 'even' : 'odd'], attributes: {} },
  });
  /** The top k ids by cosine, by brute force over every point. */
  function exactTop(points: Map<string, Float32Array>, query: Float32Array, k: number): string[] {
    const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return [...points]
      .map(([pid, v]) => ({
        pid,
        score: v.reduce((s, x, i) => s + x * query[i]!, 0) / norm(v) / norm(query),
      }))
      .sort((x, y) => y.score - x.score || (x.pid < y.pid ? -1 : 1))
      .slice(0, k)
      .map((x) => x.pid);
  }

  it('scans exactly below the exact-scan limit: no graph is built and every answer is the true top k', async (t) => {
    const index = await openEmbeddedVectorIndex({ dir: await folder(t), exactScanLimit: 200 });
    t.after(() => index.close());
    const stored = new Map<string, Float32Array>();
    const all = vectors(200, 1);
    await index.upsert(
      'c',
      all.map((v, n) => pointOf(n, v)),
    );
    all.forEach((v, n) => stored.set(id(n), v));
    for (const query of vectors(20, 2)) {
      const hits = await index.search('c', query, { k: 10 });
      assert.deepEqual(
        hits.map((h) => h.id),
        exactTop(stored, query, 10),
      );
    }
    await index.settleGraphs();
    assert.deepEqual(index.graphStatus('c'), { graphed: 0, building: 0, pending: 200 });
  });

  it('builds the graph in a worker above the limit; meanwhile the points not in it are still found exactly', async (t) => {
    const dir = await folder(t);
    const index = await openEmbeddedVectorIndex({ dir, exactScanLimit: 50 });
    const all = vectors(400, 3);
    await index.upsert(
      'c',
      all.slice(0, 300).map((v, n) => pointOf(n, v)),
    );
    // The first search starts the build and answers without waiting for it: an exact scan.
    const first = await index.search('c', all[7]!, { k: 1 });
    assert.equal(first[0]?.id, id(7));
    assert.deepEqual(index.graphStatus('c'), { graphed: 0, building: 300, pending: 0 });
    for (let n = 0; n < 300; n += 37) {
      const hits = await index.search('c', all[n]!, { k: 5 });
      assert.equal(hits[0]?.id, id(n), `point ${n} found while its graph is being built`);
    }
    await index.settleGraphs();
    assert.deepEqual(index.graphStatus('c'), { graphed: 300, building: 0, pending: 0 });

    // Points written after the graph: waiting in RAM, scanned exactly next to the graph's answer.
    await index.upsert(
      'c',
      all.slice(300).map((v, i) => pointOf(300 + i, v)),
    );
    await index.delete('c', [id(5)]);
    assert.deepEqual(index.graphStatus('c'), { graphed: 299, building: 0, pending: 100 });
    const settling = index.settleGraphs();
    assert.deepEqual(index.graphStatus('c'), { graphed: 299, building: 100, pending: 0 });
    for (let n = 300; n < 400; n += 9) {
      const hits = await index.search('c', all[n]!, { k: 3 });
      assert.equal(hits[0]?.id, id(n), `new point ${n} found while the next graph is being built`);
      assert.ok(Math.abs(hits[0].score - 1) < 1e-5, 'scored exactly');
    }
    const filtered = await index.search('c', all[302]!, { k: 3, filter: { tags: ['even'] } });
    assert.equal(filtered[0]?.id, id(302));
    await settling;
    assert.deepEqual(index.graphStatus('c'), { graphed: 399, building: 0, pending: 0 });
    const deleted = await index.search('c', all[5]!, { k: 10 });
    assert.ok(!deleted.some((h) => h.id === id(5)), 'a deleted point is never answered');
    assert.equal(deleted.length, 10);

    // The snapshot carries the graph: a reopened index searches it without building again.
    const [stored] = await index.get('c', [id(42)]);
    await index.commit({ n: 1 });
    await index.close();
    const reopened = await openEmbeddedVectorIndex({ dir, exactScanLimit: 50 });
    t.after(() => reopened.close());
    assert.deepEqual(reopened.graphStatus('c'), { graphed: 399, building: 0, pending: 0 });
    const again = await reopened.search('c', all[42]!, { k: 1 });
    assert.equal(again[0]?.id, id(42));
    assert.deepEqual(await reopened.get('c', [id(42)]), [stored]);
  });
  it("calibrates each graph's ef on its own points: raised where the greedy walk gets lost (uniform random vectors), recall kept", async (t) => {
    // A deliberately weak graph (M = 4, ef_add 16, ef from 8) over uniform random 256-d vectors.
    const wide = 256;
    let a = 11;
    const uniform = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let x = Math.imul(a ^ (a >>> 15), a | 1);
      x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
    const n = 3000;
    const all = Array.from({ length: n }, () => Float32Array.from({ length: wide }, gaussian));
    const hnsw = { connectivity: 4, expansionAdd: 16, expansionSearch: 8 };
    const index = await openEmbeddedVectorIndex({ dir: await folder(t), exactScanLimit: 100, hnsw });
    t.after(() => index.close());
    await index.upsert(
      'c',
      all.map((v, i) => pointOf(i, v)),
    );
    await index.settleGraphs();
    assert.equal(index.graphStatus('c').graphed, n);
    const ef = index.graphExpansion('c');
    assert.ok(ef !== undefined && ef > hnsw.expansionSearch, `ef raised from 8 to ${ef}`);

    const stored = new Map(all.map((v, i) => [id(i), v] as const));
    const recall = async () => {
      let found = 0;
      for (let q = 0; q < 40; q++) {
        const query = all[q * 70]!;
        const expected = new Set(exactTop(stored, query, 10));
        const hits = await index.search('c', query, { k: 10 });
        found += hits.filter((h) => expected.has(h.id)).length;
      }
      return found / 400;
    };
    const calibrated = await recall();
    assert.ok(calibrated >= 0.95, `recall@10 with the calibrated ef ${ef}: ${calibrated}`);
    // The same graph searched with the uncalibrated ef misses: the calibration is what helps.
    index.setExpansionSearch(hnsw.expansionSearch);
    const uncalibrated = await recall();
    assert.ok(uncalibrated < calibrated, `ef 8: ${uncalibrated}, calibrated: ${calibrated}`);
  });

  it("a writer keeps no copy of what it writes: vectors read in the frame, the log, then the snapshots, equal to a follower's, searched, graphed", async (t) => {
    const dir = await folder(t);
    // A snapshot every few commits, a graph once past 50 points.
    const writer = await openEmbeddedVectorIndex({ dir, exactScanLimit: 50, snapshotAfterBytes: 12_000 });
    t.after(() => writer.close());
    const all = vectors(200, 11);
    const stored = new Map<string, Float32Array>();
    const snapshots = () =>
      readdirSync(dir)
        .filter((name) => name.startsWith('snapshot-'))
        .sort();
    /** What the writer answers equals what a follower (vectors in RAM) reads from the same folder. */
    const sameAsFollower = async (what: string) => {
      const follower = await openEmbeddedVectorIndex({ dir, mode: 'follower', followIntervalMs: 60_000 });
      try {
        const ids = await follower.ids('c');
        assert.deepEqual(await writer.ids('c'), ids, `${what}: the same points`);
        assert.deepEqual(
          await writer.get('c', ids),
          await follower.get('c', ids),
          `${what}: the same vectors`,
        );
      } finally {
        await follower.close();
      }
    };
    const exactAnswers = async (what: string) => {
      for (const n of [3, 57, 120, 199]) {
        if (!stored.has(id(n))) continue;
        const hits = await writer.search('c', all[n]!, { k: 3 });
        assert.deepEqual(
          hits.map((h) => h.id),
          exactTop(stored, all[n]!, 3),
          `${what}: query ${n}`,
        );
      }
    };
    // Uncommitted: read in the frame being built.
    await writer.upsert(
      'c',
      all.slice(0, 20).map((v, n) => pointOf(n, v)),
    );
    all.slice(0, 20).forEach((v, n) => stored.set(id(n), v));
    const [inFrame] = await writer.get('c', [id(3)]);
    assert.ok(Math.abs(inFrame!.vector[1]! - all[3]![1]! / Math.hypot(...all[3]!)) < 1e-6);
    await exactAnswers('in the frame');
    await writer.commit({ n: 0 });
    await sameAsFollower('in the log');
    // Commits until two snapshots folded the log; some points replaced and removed meanwhile.
    for (let from = 20, commit = 1; from < 200; from += 20, commit++) {
      await writer.upsert(
        'c',
        all.slice(from, from + 20).map((v, i) => pointOf(from + i, v)),
      );
      all.slice(from, from + 20).forEach((v, i) => stored.set(id(from + i), v));
      await writer.upsert('c', [pointOf(from - 7, all[from]!)]);
      stored.set(id(from - 7), all[from]!);
      await writer.delete('c', [id(from - 11)]);
      stored.delete(id(from - 11));
      await writer.commit({ n: commit });
    }
    assert.ok(
      Number(/\d+/.exec(snapshots().at(-1) ?? '')?.[0] ?? 0) >= 2,
      `snapshots: ${snapshots().join(', ')}`,
    );
    await exactAnswers('after snapshots');
    await sameAsFollower('after snapshots');
    // The graph takes them from where they are; each is found in it.
    await writer.settleGraphs();
    assert.equal(writer.graphStatus('c').graphed, stored.size);
    for (const n of [0, 44, 121, 190]) {
      if (!stored.has(id(n))) continue;
      const hits = await writer.search('c', all[n]!, { k: 1 });
      assert.equal(hits[0]?.id, id(n), `point ${n} found in the graph`);
    }
    await writer.commit({ n: 99 });
    await sameAsFollower('graphed');
    const before = await writer.get('c', await writer.ids('c'));
    await writer.close();
    const reopened = await openEmbeddedVectorIndex({ dir, mode: 'follower', followIntervalMs: 60_000 });
    t.after(() => reopened.close());
    assert.deepEqual(await reopened.get('c', await reopened.ids('c')), before, 'closed: its last snapshot');
    await reopened.close();
  });

  it('loading a snapshot, a writer keeps at most writerRamBytes of waiting vectors in RAM: the rest wait in its file, found exactly, graphed and snapshotted alike', async (t) => {
    const dir = await folder(t);
    // 50 vectors of 32 floats in RAM; the other 250 go to the file.
    const options = { dir, exactScanLimit: 1000, writerRamBytes: 50 * dim * 4 };
    const all = vectors(300, 7);
    const stored = new Map(all.map((v, n) => [id(n), v] as const));
    const exactAnswers = async (index: Awaited<ReturnType<typeof openEmbeddedVectorIndex>>) => {
      for (let n = 0; n < 300; n += 23) {
        const hits = await index.search('c', all[n]!, { k: 5 });
        assert.deepEqual(
          hits.map((h) => h.id),
          exactTop(stored, all[n]!, 5),
          `query ${n}`,
        );
      }
    };
    const writer = await openEmbeddedVectorIndex(options);
    await writer.upsert(
      'c',
      all.map((v, n) => pointOf(n, v)),
    );
    await exactAnswers(writer);
    const [spilled] = await writer.get('c', [id(299)]);
    assert.ok(Math.abs(spilled!.vector[0]! - all[299]![0]! / Math.hypot(...all[299]!)) < 1e-6);
    const filtered = await writer.search('c', all[201]!, { k: 3, filter: { tags: ['odd'] } });
    assert.equal(filtered[0]?.id, id(201));
    await writer.commit({ n: 1 });
    await writer.close();

    // Reopened from its snapshot with a graph now due: waiting vectors past the limit stay in
    // the file, and the graph built from them holds every point.
    const reopened = await openEmbeddedVectorIndex({ ...options, exactScanLimit: 50 });
    t.after(() => reopened.close());
    assert.deepEqual(reopened.graphStatus('c'), { graphed: 0, building: 0, pending: 300 });
    await exactAnswers(reopened);
    await reopened.settleGraphs();
    assert.deepEqual(reopened.graphStatus('c'), { graphed: 300, building: 0, pending: 0 });
    for (let n = 0; n < 300; n += 13) {
      const hits = await reopened.search('c', all[n]!, { k: 1 });
      assert.equal(hits[0]?.id, id(n), `point ${n} found in the graph`);
    }
    await reopened.delete('c', [id(250)]);
    stored.delete(id(250));
    await reopened.commit({ n: 2 });
    await reopened.close();
    const again = await openEmbeddedVectorIndex({ ...options, exactScanLimit: 50 });
    t.after(() => again.close());
    assert.deepEqual(again.graphStatus('c'), { graphed: 299, building: 0, pending: 0 });
    assert.equal((await again.ids('c')).length, 299);
    const hits = await again.search('c', all[77]!, { k: 1 });
    assert.equal(hits[0]?.id, id(77));
    await again.close();
  });

  it('survives a graph build worker that dies: the writer goes on, searches stay exact, builds retry with a growing back-off', async (t) => {
    const fault = 'DEEPLENS_FAULT_GRAPH_WORKER';
    t.after(() => delete process.env[fault]);
    const index = await openEmbeddedVectorIndex({
      dir: await folder(t),
      exactScanLimit: 50,
      buildRetry: { initialMs: 1500, maxMs: 60_000 },
    });
    t.after(() => index.close());
    const all = vectors(300, 5);
    const stored = new Map<string, Float32Array>();
    await index.upsert(
      'c',
      all.slice(0, 200).map((v, n) => pointOf(n, v)),
    );
    all.slice(0, 200).forEach((v, n) => stored.set(id(n), v));
    const exactAnswers = async () => {
      for (let n = 0; n < 20; n++) {
        const hits = await index.search('c', all[n]!, { k: 5 });
        assert.deepEqual(
          hits.map((h) => h.id),
          exactTop(stored, all[n]!, 5),
        );
      }
    };
    const waitForRetry = async () => {
      while (index.graphBuildRetry('c').waitMs > 0) await new Promise((r) => setTimeout(r, 50));
    };

    // 1. The worker thread exits in the middle of the build (as on a fatal error).
    process.env[fault] = 'exit';
    await index.search('c', all[0]!, { k: 1 });
    assert.equal(index.graphStatus('c').building, 200, 'the first search started a build');
    await index.settleGraphs();
    assert.deepEqual(index.graphStatus('c'), { graphed: 0, building: 0, pending: 200 });
    let retry = index.graphBuildRetry('c');
    assert.equal(retry.failures, 1);
    assert.ok(retry.waitMs > 0 && retry.waitMs <= 1500, `waits ${retry.waitMs} ms before the next build`);
    // The writer carries on, and searches (exact meanwhile) start no build during the back-off.
    await index.upsert(
      'c',
      all.slice(200, 250).map((v, i) => pointOf(200 + i, v)),
    );
    all.slice(200, 250).forEach((v, i) => stored.set(id(200 + i), v));
    await index.commit({ n: 1 });
    await exactAnswers();
    assert.deepEqual(index.graphStatus('c'), { graphed: 0, building: 0, pending: 250 });

    // 2. Once the back-off is over a search retries; this worker dies of an uncaught exception.
    await waitForRetry();
    process.env[fault] = 'throw';
    await index.search('c', all[0]!, { k: 1 });
    assert.equal(index.graphStatus('c').building, 250, 'retried after the back-off');
    await index.settleGraphs();
    retry = index.graphBuildRetry('c');
    assert.equal(retry.failures, 2);
    assert.ok(retry.waitMs > 1500 && retry.waitMs <= 3000, `the back-off doubled: ${retry.waitMs} ms`);
    await exactAnswers();

    // 3. A healthy worker: the next build lands and the failures are forgotten.
    delete process.env[fault];
    await waitForRetry();
    await index.settleGraphs();
    assert.deepEqual(index.graphStatus('c'), { graphed: 250, building: 0, pending: 0 });
    assert.deepEqual(index.graphBuildRetry('c'), { failures: 0, waitMs: 0 });
    for (let n = 0; n < 250; n += 31) {
      const hits = await index.search('c', all[n]!, { k: 1 });
      assert.equal(hits[0]?.id, id(n), `point ${n} found in the graph`);
    }
    await index.close();
  });
});
