import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { deterministicUuid } from '@deeplens/platform/ids';
import {
  cosineSimilarity,
  matchesVectorFilter,
  type VectorFilter,
  type VectorIndex,
  type VectorPoint,
} from '@deeplens/platform/vectorIndex';

/**
 * The behaviour every `VectorIndex` adapter owes the vector projection and the read side. Call
 * inside a `describe`; `open` gives a fresh, empty index for one test and registers its cleanup.
 */
export function vectorIndexContract(open: (t: TestContext) => Promise<VectorIndex>): void {
  const id = (n: number) => deterministicUuid('vector-contract', String(n));
  const point = (
    n: number,
    vector: number[],
    tags: string[] = [],
    attributes: Record<string, string> = {},
  ) => ({
    id: id(n),
    vector: Float32Array.from(vector),
    payload: { tags, attributes },
  });

  it('upserts points and answers the top k by cosine similarity, best first, with scores', async (t) => {
    const index = await open(t);
    await index.upsert('t1__m@1', [
      point(1, [1, 0, 0]),
      point(2, [1, 1, 0]),
      point(3, [0, 1, 0]),
      point(4, [0, 0, 1]),
      point(5, [-1, 0, 0]),
    ]);
    const hits = await index.search('t1__m@1', Float32Array.from([2, 0.1, 0]), { k: 3 });
    assert.deepEqual(
      hits.map((h) => h.id),
      [id(1), id(2), id(3)],
    );
    const query = Float32Array.from([2, 0.1, 0]);
    for (const hit of hits) {
      const [stored] = await index.get('t1__m@1', [hit.id]);
      assert.ok(
        Math.abs(hit.score - cosineSimilarity(stored!.vector, query)) < 1e-5,
        'score is cosine similarity',
      );
    }
    assert.ok(Math.abs(hits[0]!.score - 2 / Math.sqrt(4.01)) < 1e-5);
    assert.equal(await index.count('t1__m@1'), 5);
    const far = await index.search('t1__m@1', Float32Array.from([1, 0, 0]), { k: 10, threshold: 0.5 });
    assert.deepEqual(far.map((h) => h.id).sort(), [id(1), id(2)].sort(), 'threshold drops weaker hits');
    assert.deepEqual(await index.search('t1__m@1', Float32Array.from([1, 0, 0]), { k: 0 }), []);
  });

  it('stores vectors at unit length and returns payloads', async (t) => {
    const index = await open(t);
    await index.upsert('t1__m@1', [point(1, [3, 4], ['a'], { camera: 'x' })]);
    const [stored] = await index.get('t1__m@1', [id(1), id(99)]);
    assert.ok(stored);
    assert.ok(Math.abs(stored.vector[0]! - 0.6) < 1e-6 && Math.abs(stored.vector[1]! - 0.8) < 1e-6);
    assert.deepEqual(stored.payload, { tags: ['a'], attributes: { camera: 'x' } });
    assert.deepEqual(await index.get('missing__m@1', [id(1)]), []);
    assert.deepEqual(await index.search('missing__m@1', Float32Array.from([1, 0]), { k: 3 }), []);
  });

  it('applies tag and attribute filters without losing recall', async (t) => {
    const index = await open(t);
    const dim = 16;
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const points: VectorPoint[] = Array.from({ length: 1500 }, (_, n) =>
      point(
        n,
        Array.from({ length: dim }, random),
        [n % 50 === 0 ? 'rare' : 'common', ...(n % 2 === 0 ? ['even'] : [])],
        { shelf: String(n % 3) },
      ),
    );
    await index.upsert('t1__m@1', points);
    const query = Float32Array.from({ length: dim }, random);
    const exactTop = (filter: VectorFilter, k: number) =>
      points
        .filter((p) => matchesVectorFilter(p.payload, filter))
        .map((p) => ({ id: p.id, score: cosineSimilarity(p.vector, query) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, k)
        .map((h) => h.id);
    for (const filter of [
      { tags: ['rare'] },
      { tags: ['even'] },
      { attributes: { shelf: '1' } },
      { tags: ['even', 'rare'], attributes: { shelf: '0' } },
      { tags: ['nobody'] },
    ] satisfies VectorFilter[]) {
      const hits = await index.search('t1__m@1', query, { k: 10, filter });
      for (const hit of hits)
        assert.ok(matchesVectorFilter(hit.payload, filter), 'every hit passes the filter');
      assert.deepEqual(
        hits.map((h) => h.id),
        exactTop(filter, 10),
        `same hits as an exact scan for ${JSON.stringify(filter)}`,
      );
    }
  });

  it('replaces payloads, and filters follow', async (t) => {
    const index = await open(t);
    await index.upsert('t1__m@1', [point(1, [1, 0], ['old']), point(2, [0, 1], ['old'])]);
    await index.setPayload('t1__m@1', [id(1), id(77)], { tags: ['new'], attributes: { k: 'v' } });
    const hits = await index.search('t1__m@1', Float32Array.from([1, 0]), {
      k: 5,
      filter: { tags: ['new'] },
    });
    assert.deepEqual(
      hits.map((h) => [h.id, h.payload]),
      [[id(1), { tags: ['new'], attributes: { k: 'v' } }]],
    );
    assert.equal(await index.count('t1__m@1'), 2, 'setPayload creates no point');
  });

  it('deletes points, ignoring ids and collections that do not exist', async (t) => {
    const index = await open(t);
    await index.upsert('t1__m@1', [point(1, [1, 0]), point(2, [0.9, 0.1]), point(3, [0, 1])]);
    await index.delete('t1__m@1', [id(1), id(99)]);
    await index.delete('missing__m@1', [id(1)]);
    const hits = await index.search('t1__m@1', Float32Array.from([1, 0]), { k: 3 });
    assert.deepEqual(
      hits.map((h) => h.id),
      [id(2), id(3)],
    );
    assert.deepEqual(await index.ids('t1__m@1'), [id(2), id(3)].sort());
    assert.deepEqual(await index.get('t1__m@1', [id(1)]), []);
  });

  it('is idempotent: applying the same writes again changes nothing', async (t) => {
    const index = await open(t);
    const writes = async () => {
      await index.upsert('t1__m@1', [point(1, [1, 0], ['a']), point(2, [0, 1], ['b']), point(3, [1, 1])]);
      await index.delete('t1__m@1', [id(3)]);
      await index.setPayload('t1__m@1', [id(2)], { tags: ['c'], attributes: {} });
    };
    await writes();
    const before = await index.get('t1__m@1', await index.ids('t1__m@1'));
    await writes();
    await writes();
    assert.deepEqual(await index.get('t1__m@1', await index.ids('t1__m@1')), before);
    assert.equal(await index.count('t1__m@1'), 2);
    const again = await index.search('t1__m@1', Float32Array.from([1, 0]), { k: 5 });
    assert.deepEqual(
      again.map((h) => h.id),
      [id(1), id(2)],
    );
  });

  it('keeps collections apart: same ids, separate points, separate drops', async (t) => {
    const index = await open(t);
    await index.upsert('tenantA__m@1', [point(1, [1, 0], ['a'])]);
    await index.upsert('tenantB__m@1', [point(1, [0, 1], ['b']), point(2, [1, 0])]);
    await index.upsert('tenantA__m@2', [point(1, [1, 0, 0])]);
    const a = await index.search('tenantA__m@1', Float32Array.from([0, 1]), { k: 5 });
    assert.deepEqual(
      a.map((h) => [h.id, h.payload.tags]),
      [[id(1), ['a']]],
      "a search never sees another collection's points",
    );
    assert.deepEqual(await index.collections('tenantA__'), ['tenantA__m@1', 'tenantA__m@2']);
    await index.dropCollection('tenantA__m@1');
    await index.dropCollection('tenantA__m@1');
    assert.deepEqual(await index.collections('tenantA__'), ['tenantA__m@2']);
    assert.deepEqual(
      await index.collections(),
      ['tenantA__m@2', 'tenantB__m@1'],
      'a dropped one is not listed',
    );
    assert.equal(await index.count('tenantA__m@1'), 0);
    assert.equal(await index.count('tenantB__m@1'), 2);
  });

  it('commits a state and answers it back', async (t) => {
    const index = await open(t);
    assert.equal(await index.committedState(), undefined);
    await index.upsert('t1__m@1', [point(1, [1, 0])]);
    await index.commit({ checkpoints: { 'topic:0': 41 } });
    await index.commit({ checkpoints: { 'topic:0': 42 }, tombstones: ['x'] });
    assert.deepEqual(await index.committedState(), { checkpoints: { 'topic:0': 42 }, tombstones: ['x'] });
    assert.deepEqual(await index.collections(), ['t1__m@1'], 'the state is not a collection');
  });
}
