/**
 * One node of a three-node Qdrant cluster (the test's own: `up qdrant --qdrant-nodes 3` on free
 * ports) killed under continuous searches and ingest through the Qdrant adapter, with the
 * cluster settings DeepLens runs there (replication factor 2, three shards): searches keep
 * answering from the replicas, ingest goes on, and the restarted node catches up — each replica
 * of each shard holds the same points, and with the node's partners stopped in turn its own
 * copies answer for every acknowledged point. Also the vector-index contract on that cluster.
 * Needs a Qdrant binary (the stack's: skipped where QDRANT_URL is unset, as the other Qdrant tests).
 *   npm run test:int -- qdrantNodeStop
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import type { VectorPoint } from '@deeplens/platform/vectorIndex';
import { createQdrantVectorIndex, qdrantRetryBudget } from '@deeplens/projections/qdrantVectorIndex';
import { vectorIndexOpener } from '@deeplens/projections/projectionRuntime';
import { vectorIndexContract } from '@deeplens/projections/vectorIndexContract';
import { waitUntil } from './processes.ts';
import { startPrivateQdrantCluster, type PrivateQdrantCluster } from './testing/privateQdrantCluster.ts';

const skip = process.env.QDRANT_URL ? false : 'no Qdrant binary (QDRANT_URL is unset)';
const replication = { replicationFactor: 2, shards: 3 };
const dim = 32;
const tenants = ['acme', 'globex'];
const group = 'model@1';
/** The node killed under load: node 1, where the writer enters and the consensus started. */
const victim = 1;

/** The longest a request may take across the adapter's retries (sum of its back-offs), plus the request times. */
const retryBudgetMs = (() => {
  let total = 0;
  let delay: number = qdrantRetryBudget.firstDelayMs;
  for (let i = 1; i < qdrantRetryBudget.attempts; i++) {
    total += delay;
    delay = Math.min(delay * 2, qdrantRetryBudget.maxDelayMs);
  }
  return total;
})();

/** A point whose vector is its own, unlike any other's (random, so a search for it finds it first). */
function pointOf(n: number): VectorPoint {
  const vector = new Float32Array(dim);
  // mulberry32 seeded with n: 32-bit integer arithmetic, so no two points share a sequence.
  let seed = n + 0x9e3779b9;
  for (let i = 0; i < dim; i++) {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), seed | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    vector[i] = ((x ^ (x >>> 14)) >>> 0) / 2 ** 32 - 0.5;
  }
  return { id: `img-${n}`, vector, payload: { tags: [`n${n % 5}`], attributes: {} } };
}
const tenantOf = (n: number) => tenants[n % tenants.length]!;
const collectionOf = (n: number) => `${tenantOf(n)}__${group}`;

type ShardInfo = {
  local_shards: { shard_id: number; points_count: number; state: string }[];
  remote_shards: { shard_id: number; peer_id: number; state: string }[];
  shard_transfers?: unknown[];
  peer_id: number;
  shard_count: number;
};

async function clusterInfo(url: string, collection: string): Promise<ShardInfo> {
  const response = await fetch(`${url}/collections/${encodeURIComponent(collection)}/cluster`, {
    signal: AbortSignal.timeout(5000),
  });
  assert.ok(response.ok, `${url}: cluster info ${response.status}`);
  return ((await response.json()) as { result: ShardInfo }).result;
}

/** Every replica on every node Active and no transfer under way. */
async function allActive(urls: string[], collection: string): Promise<boolean> {
  for (const url of urls) {
    const info = await clusterInfo(url, collection);
    if ((info.shard_transfers ?? []).length > 0) return false;
    if (info.local_shards.some((s) => s.state !== 'Active')) return false;
    if (info.remote_shards.some((s) => s.state !== 'Active')) return false;
  }
  return true;
}

describe('three-node Qdrant: a node stopped under searches and ingest', { skip }, () => {
  let cluster!: PrivateQdrantCluster;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    cluster = await startPrivateQdrantCluster({ after: (fn: () => Promise<void>) => cleanups.push(fn) });
  });
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  describe('the vector-index contract with replication factor 2 over three shards', () => {
    // Each case on a namespace of its own, through node 1 (the cluster goes when the suite ends).
    vectorIndexContract(async () =>
      createQdrantVectorIndex({
        url: cluster.urls[0]!,
        namespace: uniqueName('contract').replaceAll('-', '_'),
        ...replication,
      }),
    );
  });

  it('the projections create collections with the configured copies and shards', async () => {
    const namespace = uniqueName('layout').replaceAll('-', '_');
    const open = vectorIndexOpener(
      {
        VECTOR_STORE: 'qdrant',
        VECTOR_INDEX_DIR: '',
        QDRANT_URL: cluster.urls[0]!,
        QDRANT_API_KEY: undefined,
        QDRANT_REPLICATION_FACTOR: 2,
        QDRANT_SHARDS: 3,
      },
      namespace,
    );
    const index = await open(1, 'writer');
    await index.upsert(`acme__${group}`, [pointOf(1)]);
    await index.commit({ at: 1 });
    await index.close();
    for (const collection of [`${namespace}_g1__${group}`, `${namespace}_g1__state`]) {
      const response = await fetch(`${cluster.urls[1]!}/collections/${encodeURIComponent(collection)}`);
      assert.ok(response.ok, `${collection} exists`);
      const { result } = (await response.json()) as {
        result: { config: { params: Record<string, unknown> } };
      };
      const { shard_number, replication_factor, write_consistency_factor } = result.config.params;
      assert.deepEqual(
        { shard_number, replication_factor, write_consistency_factor },
        { shard_number: 3, replication_factor: 2, write_consistency_factor: 1 },
        collection,
      );
    }
  });

  it('keeps answering from replicas, keeps ingesting, and the restarted node catches up', async (t) => {
    const { urls } = cluster;
    const namespace = uniqueName('nodestop').replaceAll('-', '_');
    const physical = `${namespace}__${group}`;
    // The writer enters through node 1, the searcher through node 2, each with the other nodes
    // to fall back on; node 1 — the writer's node and the consensus leader — is killed.
    const writer = createQdrantVectorIndex({
      url: urls[0]!,
      fallbackUrls: [urls[1]!, urls[2]!],
      namespace,
      ...replication,
    });
    const reader = createQdrantVectorIndex({
      url: urls[1]!,
      fallbackUrls: [urls[2]!, urls[0]!],
      namespace,
      ...replication,
    });
    t.after(() => writer.close());

    let next = 0;
    let stop = false;
    const acknowledged: number[] = [];
    let ingestFailures = 0;
    let lastAck = Date.now();
    let longestStall = 0;
    async function ingestBatch(size: number): Promise<void> {
      const batch = Array.from({ length: size }, (_, i) => next + i);
      for (const n of batch) await writer.upsert(collectionOf(n), [pointOf(n)]);
      for (;;) {
        try {
          // A failure beyond the adapter's retry budget keeps the writes pending: sent again.
          await writer.commit({ next: next + size });
          break;
        } catch (error) {
          ingestFailures++;
          if (stop) throw error; // the test is ending (or failed): no endless retry
        }
      }
      next += size;
      acknowledged.push(...batch);
      const now = Date.now();
      longestStall = Math.max(longestStall, now - lastAck);
      lastAck = now;
    }
    // Collections exist and hold points before anything is stopped.
    while (next < 200) await ingestBatch(20);
    const info = await clusterInfo(urls[0]!, physical);
    assert.equal(info.shard_count, 3, 'three shards');

    let ingestError: unknown;
    const ingesting = (async () => {
      try {
        while (!stop) await ingestBatch(10);
      } catch (error) {
        ingestError = error;
      }
    })();
    let searches = 0;
    const searchFailures: string[] = [];
    const wrongAnswers: string[] = [];
    const searching = (async () => {
      let i = 0;
      while (!stop) {
        const known = acknowledged.length;
        const n = acknowledged[(i++ * 7919) % known]!;
        try {
          const hits = await reader.search(collectionOf(n), pointOf(n).vector, { k: 3 });
          searches++;
          if (hits[0]?.id !== `img-${n}`) wrongAnswers.push(`img-${n}: ${hits[0]?.id ?? 'no hit'}`);
        } catch (error) {
          searchFailures.push(String(error));
        }
      }
    })();
    const waitForAcks = async (count: number, what: string) => {
      const target = acknowledged.length + count;
      const reached = await waitUntil(async () => acknowledged.length >= target || stop, 120_000, 100);
      assert.ok(
        reached && ingestError === undefined,
        `${what}: ${ingestError instanceof Error ? ingestError.message : 'timed out'}`,
      );
    };

    try {
      await waitForAcks(50, 'before the kill');
      const searchesBefore = searches;
      const ackedBefore = acknowledged.length;
      const killedAt = Date.now();
      cluster.kill(victim);
      await waitForAcks(10, 'after the kill');
      const resumedAfterMs = Date.now() - killedAt;
      await waitForAcks(190, `with node ${victim} down`);
      // The kill mattered: node 3 sees the victim's replicas as no longer active.
      const whileDown = await clusterInfo(urls[2]!, physical);
      const deadReplicas = whileDown.remote_shards.filter((s) => s.state !== 'Active').length;
      const searchesWhileDown = searches - searchesBefore;
      const ackedWhileDown = acknowledged.length - ackedBefore;

      const restartedAt = Date.now();
      await cluster.up();
      await waitForAcks(100, 'after the restart');
      stop = true;
      await Promise.all([ingesting, searching]);
      const caughtUp = await waitUntil(() => allActive(urls, physical), 120_000, 250);
      const catchUpMs = Date.now() - restartedAt;

      t.diagnostic(
        `acknowledged ${acknowledged.length} points (${ackedWhileDown} while node ${victim} was down); ` +
          `ingest moving again ${resumedAfterMs} ms after the kill, longest stall ${longestStall} ms, ` +
          `${ingestFailures} commits failed beyond the retry budget; ${searches} searches ` +
          `(${searchesWhileDown} while down), ${searchFailures.length} failed, ${wrongAnswers.length} wrong; ` +
          `${deadReplicas} replicas of node ${victim} marked down; every replica active ${catchUpMs} ms after the restart`,
      );
      assert.ok(deadReplicas > 0, `node ${victim} held replicas that the cluster saw go down`);
      assert.deepEqual(searchFailures, [], 'no search failed beyond the retry budget');
      assert.deepEqual(wrongAnswers, [], 'every search found the point it looked for first');
      assert.ok(searchesWhileDown > 0, `searches ran while node ${victim} was down`);
      assert.equal(ingestFailures, 0, 'no commit failed beyond the retry budget');
      assert.ok(
        longestStall <= retryBudgetMs + 10_000,
        `longest stall ${longestStall} ms within the retry budget (${retryBudgetMs} ms of back-off)`,
      );
      assert.ok(caughtUp, 'every replica active again after the restart');

      // Each shard's copies hold the same number of points, and together every acknowledged one.
      const perShard = new Map<number, number[]>();
      for (const url of urls)
        for (const shard of (await clusterInfo(url, physical)).local_shards)
          perShard.set(shard.shard_id, [...(perShard.get(shard.shard_id) ?? []), shard.points_count]);
      for (const [shard, counts] of perShard) {
        assert.equal(counts.length, 2, `shard ${shard} has two copies`);
        assert.equal(new Set(counts).size, 1, `shard ${shard}'s copies hold ${counts.join(' and ')} points`);
      }
      const total = [...perShard.values()].reduce((sum, counts) => sum + counts[0]!, 0);
      assert.equal(total, acknowledged.length, 'the shards hold every acknowledged point once');

      // The victim's own copies answer: with each of its partners stopped in turn, the shards
      // they share are served by the victim alone, and every acknowledged point is there.
      for (const [partner, via] of [
        [2, 3],
        [3, 2],
      ] as const) {
        cluster.kill(partner);
        const alone = createQdrantVectorIndex({ url: urls[via - 1]!, namespace, ...replication });
        for (const tenant of tenants) {
          const expected = acknowledged.filter((n) => tenantOf(n) === tenant);
          assert.equal(
            await alone.count(`${tenant}__${group}`),
            expected.length,
            `${tenant} with node ${partner} down`,
          );
          const found = await alone.get(
            `${tenant}__${group}`,
            expected.map((n) => `img-${n}`),
          );
          assert.equal(
            found.length,
            expected.length,
            `every ${tenant} point retrievable with node ${partner} down`,
          );
        }
        await alone.close();
        await cluster.up();
        assert.ok(await waitUntil(() => allActive(urls, physical), 120_000, 250), `node ${partner} back`);
      }
    } finally {
      stop = true;
      await Promise.all([ingesting, searching]);
    }
  });
});
