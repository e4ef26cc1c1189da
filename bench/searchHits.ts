/**
 * What a search pays the metadata read model for its hits (issue #18): `getSearchHits` for 11
 * hits of a tenant in the shared database (one statement: the rows and the check that the tenant
 * has no dedicated database), of a tenant on a dedicated database (located first: the registry
 * read, then the rows from its database — the two round trips every search paid before), and a
 * trivial `select` on the same pool as the floor of one round trip; interleaved rounds, so a load
 * change on the shared machine weighs on each alike.
 *   npx tsx bench/searchHits.ts [queries per round = 1000]
 */
import { sql } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import { createMetadataQueries } from '@deeplens/projections/metadataQueries';
import { upsertImageRows, type ImageRow } from '@deeplens/projections/metadataProjection';
import {
  ensurePlatformSchema,
  ensureTenantSchema,
  tenantSchemaBase,
} from '@deeplens/projections/metadataSchema';
import { createProjectionDatabase } from '@deeplens/projections/testing/projectionTestKit';
import { latencySummary, ms, report, scope, type Row } from './benchSupport.ts';

const perRound = Number(process.argv[2] ?? 1000);
const rounds = 4;
const imageCount = 48;
const hitsPerSearch = 11;

const imageIds = (tenant: string) =>
  Array.from({ length: imageCount }, (_, i) => deterministicUuid('search-hits-bench', tenant, String(i)));

function imageRow(imageId: string): ImageRow {
  return {
    image_id: imageId,
    status: 'embedded',
    object_key: imageId,
    sha256: '0'.repeat(64),
    mime: 'image/jpeg',
    bytes: 100_000,
    width: 640,
    height: 480,
    filename: `${imageId}.jpg`,
    tags: ['holiday', 'beach'],
    attributes: { camera: 'x100' },
    source: 'http',
    failure_reason: null,
    failure_retriable: null,
    failed_at: null,
    thumbnail_key: `thumbnails/${imageId}.webp`,
    thumbnail_width: 256,
    thumbnail_height: 192,
    thumbnail_mime: 'image/webp',
    perceptual_hash: '0123456789abcdef',
    version: 2,
    uploaded_at: 1_700_000_000_000,
    updated_at: 1_700_000_000_000,
    deleted_at: null,
  };
}

const s = scope();
try {
  const db = await createProjectionDatabase(s);
  const databases = db.deps.tenantDatabases!;
  const shared = deterministicUuid('search-hits-bench', 'shared tenant');
  const dedicated = deterministicUuid('search-hits-bench', 'dedicated tenant');
  const at = { target: 'default', database: databases.nameOf(dedicated, 1) };
  await db.pool.transaction(async (tx) => {
    await ensurePlatformSchema(tx, 'platform');
    await ensureTenantSchema(tx, tenantSchemaBase(shared));
    await upsertImageRows(tx, tenantSchemaBase(shared), imageIds(shared).map(imageRow));
    await tx.query(sql.typeAlias('void')`
      insert into platform.tenant_databases (tenant_id, target, database)
      values (${dedicated}, ${at.target}, ${at.database})`);
  });
  await databases.ensure(at);
  await databases.transaction(at, async (tx) => {
    await ensureTenantSchema(tx, tenantSchemaBase(dedicated));
    await upsertImageRows(tx, tenantSchemaBase(dedicated), imageIds(dedicated).map(imageRow));
  });
  const queries = createMetadataQueries(db.pool, { tenantDatabases: databases });
  s.after(() => queries.close());

  const idsOf = new Map([shared, dedicated].map((tenant) => [tenant, imageIds(tenant)]));
  const hitsOf = (tenant: string, i: number) =>
    Array.from({ length: hitsPerSearch }, (_, j) => idsOf.get(tenant)![(i + j * 5) % imageCount]!);
  const sides = [
    { name: 'floor', call: () => db.pool.query(sql.typeAlias('void')`select`) },
    {
      name: 'shared',
      call: async (i: number) => {
        if ((await queries.getSearchHits(shared, hitsOf(shared, i))).size !== hitsPerSearch)
          throw new Error('hits missing');
      },
    },
    {
      name: 'dedicated',
      call: async (i: number) => {
        if ((await queries.getSearchHits(dedicated, hitsOf(dedicated, i))).size !== hitsPerSearch)
          throw new Error('hits missing');
      },
    },
  ];
  const latencies = new Map(sides.map((side) => [side.name, [] as number[]]));
  for (const side of sides) for (let i = 0; i < 200; i++) await side.call(i); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const side of sides) {
      const out = latencies.get(side.name)!;
      for (let i = 0; i < perRound; i++) {
        const started = performance.now();
        await side.call(i);
        out.push(performance.now() - started);
      }
    }
  }
  const floor = latencySummary(latencies.get('floor')!);
  const rows: Row[] = [
    {
      measure: '`select` on the same pool p50 / p99 (one round trip, the floor)',
      value: `${ms(floor.p50)} / ${ms(floor.p99)}`,
    },
  ];
  for (const [name, label] of [
    ['shared', 'getSearchHits, 11 hits, a tenant in the shared database (one statement)'],
    ['dedicated', 'getSearchHits, 11 hits, a tenant on a dedicated database (located: two round trips)'],
  ] as const) {
    const summary = latencySummary(latencies.get(name)!);
    rows.push({
      measure: `${label} p50 / p99`,
      value: `${ms(summary.p50)} / ${ms(summary.p99)}`,
      limit: `${ms(floor.p50)} (floor p50)`,
      ratio: (summary.p50 / floor.p50).toFixed(2),
    });
  }
  await report('Search hits from the metadata read model (getSearchHits) against one round trip', rows, [
    `${rounds} interleaved rounds of ${perRound} sequential calls per side, one client, against the running stack's PostgreSQL on the shared 2-core machine; rows as the metadata projection stores them.`,
  ]);
} finally {
  await s.close();
}
