/**
 * Per-tenant isolation in Qdrant at many tenants: (A) one collection per tenant (and model
 * version) against (B) one collection with a `tenant` keyword payload index marked `is_tenant`
 * (HNSW graphs built per tenant: `payload_m` 16, global `m` 0). Same points, same queries:
 * set-up time (create + load), search p50/p99 (k = 10, each query restricted to one tenant),
 * Qdrant's resident memory and storage files afterwards. B is the layout the adapter uses
 * (docs/projections.md); A is the limit it is measured against in the same run.
 *   QDRANT_URL=http://127.0.0.1:16333 npx tsx bench/qdrantTenancy.ts [tenants=1000] [pointsPerTenant=50] [dim=128]
 * Run it against a Qdrant of its own (`STACK_DIR=/tmp/q QDRANT_URL=… npm run stack -- up qdrant`):
 * it creates and drops up to `tenants` + 1 collections named `bench_tenancy_*`.
 */
import { randomUUID } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import { latencySummary, ms, report } from './benchSupport.ts';

const tenants = Number(process.argv[2] ?? 1000);
const perTenant = Number(process.argv[3] ?? 50);
const dim = Number(process.argv[4] ?? 128);
const queries = 1000;
const url = process.env.QDRANT_URL ?? 'http://127.0.0.1:16333';
const client = new QdrantClient({ url, apiKey: process.env.QDRANT_API_KEY, checkCompatibility: false });

let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
const vector = () => Array.from({ length: dim }, random);
const tenantIds = Array.from({ length: tenants }, () => randomUUID());
const points = tenantIds.map((tenant) =>
  Array.from({ length: perTenant }, (_, i) => ({
    id: randomUUID(),
    vector: vector(),
    payload: { tenant, tags: [i % 2 === 0 ? 'even' : 'odd'] },
  })),
);
const queryPlan = Array.from({ length: queries }, (_, i) => ({ tenant: i % tenants, vector: vector() }));

/** Qdrant's own resident memory (its `/metrics`), MiB. */
async function residentMiB(): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('memory_resident_bytes'));
  return line ? Number(line.split(/\s+/)[1]) / 2 ** 20 : Number.NaN;
}

async function dropAll(): Promise<void> {
  const { collections } = await client.getCollections();
  for (const { name } of collections)
    if (name.startsWith('bench_tenancy_')) await client.deleteCollection(name);
}

type Result = { setupSeconds: number; p50: number; p99: number; memoryMiB: number };

async function perTenantCollections(): Promise<Result> {
  const started = performance.now();
  for (let t = 0; t < tenants; t++) {
    const name = `bench_tenancy_a_${t}`;
    await client.createCollection(name, { vectors: { size: dim, distance: 'Cosine' } });
    await client.createPayloadIndex(name, { field_name: 'tags', field_schema: 'keyword', wait: true });
    await client.upsert(name, { wait: true, points: points[t]! });
  }
  const setupSeconds = (performance.now() - started) / 1000;
  const latencies: number[] = [];
  for (const q of queryPlan) {
    const t0 = performance.now();
    await client.query(`bench_tenancy_a_${q.tenant}`, { query: q.vector, limit: 10 });
    latencies.push(performance.now() - t0);
  }
  const memoryMiB = await residentMiB();
  return { setupSeconds, ...latencySummary(latencies), memoryMiB };
}

async function sharedCollection(): Promise<Result> {
  const started = performance.now();
  const name = 'bench_tenancy_b';
  await client.createCollection(name, {
    vectors: { size: dim, distance: 'Cosine' },
    hnsw_config: { payload_m: 16, m: 0 },
  });
  await client.createPayloadIndex(name, {
    field_name: 'tenant',
    field_schema: { type: 'keyword', is_tenant: true },
    wait: true,
  });
  await client.createPayloadIndex(name, { field_name: 'tags', field_schema: 'keyword', wait: true });
  const all = points.flat();
  for (let i = 0; i < all.length; i += 1000)
    await client.upsert(name, { wait: true, points: all.slice(i, i + 1000) });
  const setupSeconds = (performance.now() - started) / 1000;
  const latencies: number[] = [];
  for (const q of queryPlan) {
    const t0 = performance.now();
    await client.query(name, {
      query: q.vector,
      limit: 10,
      filter: { must: [{ key: 'tenant', match: { value: tenantIds[q.tenant]! } }] },
    });
    latencies.push(performance.now() - t0);
  }
  const memoryMiB = await residentMiB();
  return { setupSeconds, ...latencySummary(latencies), memoryMiB };
}

await dropAll();
try {
  const baseline = await residentMiB();
  console.log(`layout B: one collection, is_tenant index (${tenants} tenants × ${perTenant} points)…`);
  const b = await sharedCollection();
  await dropAll();
  console.log(`layout A: a collection per tenant (${tenants} collections)…`);
  const a = await perTenantCollections();
  const ratio = (x: number, y: number) => (x / y).toFixed(3);
  await report(
    `Qdrant tenancy: ${tenants} tenants × ${perTenant} points of ${dim}-d, ${queries} searches`,
    [
      {
        measure: 'set-up (create + load), one collection with is_tenant (B) vs a collection per tenant (A)',
        value: `${b.setupSeconds.toFixed(1)} s`,
        limit: `${a.setupSeconds.toFixed(1)} s`,
        ratio: ratio(b.setupSeconds, a.setupSeconds),
        bar: '≤ 1',
        verdict: b.setupSeconds <= a.setupSeconds ? 'met' : 'missed',
      },
      {
        measure: 'search p50, B vs A',
        value: ms(b.p50),
        limit: ms(a.p50),
        ratio: ratio(b.p50, a.p50),
        bar: 'informative',
      },
      {
        measure: 'search p99, B vs A',
        value: ms(b.p99),
        limit: ms(a.p99),
        ratio: ratio(b.p99, a.p99),
        bar: '≤ 2',
        verdict: b.p99 <= 2 * a.p99 ? 'met' : 'missed',
      },
      {
        measure: `Qdrant resident memory after loading (before: ${baseline.toFixed(0)} MiB), B vs A`,
        value: `${b.memoryMiB.toFixed(0)} MiB`,
        limit: `${a.memoryMiB.toFixed(0)} MiB`,
        ratio: ratio(b.memoryMiB, a.memoryMiB),
        bar: 'informative',
      },
    ],
    [
      `Qdrant at ${url}; both layouts hold the same points and answer the same queries, each query restricted to one tenant (B by its \`tenant\` filter, A by the collection).`,
    ],
  );
} finally {
  await dropAll();
}
