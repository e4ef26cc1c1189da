import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { deterministicUuid } from '@deeplens/platform/ids';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { openEmbeddedVectorIndex } from './embeddedVectorIndex.ts';
import { createQdrantVectorIndex, dropQdrantNamespace } from './qdrantVectorIndex.ts';
import { vectorIndexContract } from './vectorIndexContract.ts';

describe('VectorIndex contract: embedded HNSW (usearch)', () => {
  vectorIndexContract(async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'deeplens-vectors-'));
    // A small exact-scan limit, so the filter tests also walk the graph.
    const index = await openEmbeddedVectorIndex({ dir, exactScanLimit: 20 });
    t.after(async () => {
      await index.close();
      await rm(dir, { recursive: true, force: true });
    });
    return index;
  });
});

const qdrantUrl = process.env.QDRANT_URL;
describe(
  'VectorIndex contract: Qdrant',
  {
    skip: qdrantUrl
      ? false
      : 'QDRANT_URL is not set, so there is no Qdrant server to run the contract against',
  },
  () => {
    const options = (t: TestContext) => {
      const namespace = uniqueName('contract').replaceAll('-', '_');
      const options = { url: qdrantUrl!, apiKey: process.env.QDRANT_API_KEY, namespace };
      t.after(() => dropQdrantNamespace(options));
      return options;
    };
    vectorIndexContract(async (t) => createQdrantVectorIndex(options(t)));

    const id = (n: number) => deterministicUuid('qdrant-adapter', String(n));
    const points = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({
        id: id(from + i),
        vector: Float32Array.from([1, (from + i) % 7, 2]),
        payload: { tags: ['t'], attributes: { n: String(from + i) } },
      }));

    it('sends writes at commit: another reader sees none before and all after, tenants apart', async (t) => {
      const o = options(t);
      const writer = createQdrantVectorIndex(o);
      const reader = createQdrantVectorIndex(o);
      for (const tenant of ['a', 'b', 'c']) await writer.upsert(`${tenant}__m@1`, points(0, 300));
      await writer.delete('b__m@1', [id(0), id(1)]);
      await writer.setPayload('c__m@1', [id(2)], { tags: ['new'], attributes: {} });
      assert.deepEqual(await writer.get('c__m@1', [id(2)]).then((p) => p[0]?.payload.tags), ['new']);
      assert.equal(await reader.count('a__m@1'), 0, 'nothing is sent before the commit');
      await writer.commit({ checkpoints: { 'topic:0': 7 } });
      assert.deepEqual(
        await Promise.all(['a', 'b', 'c'].map((tenant) => reader.count(`${tenant}__m@1`))),
        [300, 298, 300],
      );
      const [changed] = await reader.get('c__m@1', [id(2)]);
      assert.deepEqual(changed?.payload, { tags: ['new'], attributes: {} });
      assert.deepEqual(await reader.committedState(), { checkpoints: { 'topic:0': 7 } });
      assert.deepEqual(await reader.collections(), ['a__m@1', 'b__m@1', 'c__m@1']);
    });

    it('drops writes that were never committed, as the embedded index does', async (t) => {
      const o = options(t);
      const first = createQdrantVectorIndex(o);
      await first.upsert('a__m@1', points(0, 10));
      await first.commit({ checkpoints: { 'topic:0': 1 } });
      await first.upsert('a__m@1', points(10, 10));
      await first.dropCollection('a__m@1');
      await first.close();
      const reopened = createQdrantVectorIndex(o);
      assert.equal(await reopened.count('a__m@1'), 10);
      assert.deepEqual(await reopened.committedState(), { checkpoints: { 'topic:0': 1 } });
    });

    it('keeps tenants in one collection per model version, with a tenant index and keyword indexes', async (t) => {
      const o = options(t);
      const index = createQdrantVectorIndex(o);
      await index.upsert('a__m@1', points(0, 3));
      await index.upsert('b__m@1', points(0, 3));
      await index.commit({});
      const client = new QdrantClient({ url: o.url, apiKey: o.apiKey, checkCompatibility: false });
      const { collections } = await client.getCollections();
      assert.deepEqual(
        collections
          .map((c) => c.name)
          .filter((n) => n.startsWith(`${o.namespace}__`))
          .sort(),
        [`${o.namespace}__m@1`, `${o.namespace}__state`],
      );
      const info = await client.getCollection(`${o.namespace}__m@1`);
      assert.deepEqual(info.payload_schema.tenant?.params, { type: 'keyword', is_tenant: true });
      assert.equal(info.payload_schema.tags?.data_type, 'keyword');
      assert.equal(info.payload_schema.attribute_pairs?.data_type, 'keyword');
      assert.equal(info.config.hnsw_config.m, 0, 'no graph across tenants');
    });
  },
);
