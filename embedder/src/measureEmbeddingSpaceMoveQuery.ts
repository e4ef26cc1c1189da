/**
 * What a move's per-tenant completeness check costs the read API (it runs at most every 2 s per
 * tenant not yet switched), and the move command's progress count: one tenant with `--images` live images (default 100 000) in the write
 * model, embedded in v1, with a v2 vector in the read model for all but `--missing` of them.
 *
 *   npx tsx embedder/src/measureEmbeddingSpaceMoveQuery.ts [--images 100000] [--missing 0]
 *
 * On a database of its own, dropped at the end. Prints the median and worst of 9 checks after a
 * warm-up, beside the time of a plain `count(*)` of the tenant's images (the floor of any check
 * that looks at each image), measured in the same run. Not a test: numbers depend on the machine.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { runMigrations } from '@deeplens/platform/migrations';
import { sql } from '@deeplens/platform/database';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { writeModelMigrations } from '@deeplens/commands/commandHandler';
import { buildDefaultModel } from './buildDefaultModel.ts';
import { embeddingSpaceMoveProgress, missingInTargetSpace } from './embeddingSpaceMove.ts';

const argument = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const images = argument('images', 100_000);
const missing = argument('missing', 0);

const cleanups: (() => Promise<void>)[] = [];
const { manifest: v2, backbone: v1 } = await buildDefaultModel();
const database = await createTestDatabase({ after: (fn) => void cleanups.push(fn as () => Promise<void>) });
try {
  await runMigrations(database.url, 'write-model', writeModelMigrations);
  const { pool } = database;
  const tenantId = randomUUID();
  const embeddings = JSON.stringify([{ modelId: v1.modelId, modelVersion: v1.modelVersion }]);
  const loaded = performance.now();
  await pool.query(sql.typeAlias('void')`
    insert into write.aggregates (aggregate_type, aggregate_id, tenant_id, version, state)
    select 'image', gen_random_uuid()::text, ${tenantId}, 2,
      jsonb_build_object('status', 'active', 'tenantId', ${tenantId}::text, 'version', 2,
        'objectKey', 'objects/x', 'sha256', repeat('0', 64), 'bytes', 1000, 'tags', '[]'::jsonb,
        'attributes', '{}'::jsonb, 'embeddings', ${embeddings}::jsonb, 'thumbnails', '[]'::jsonb)
    from generate_series(1, ${images})`);
  await pool.query(sql.typeAlias('void')`create schema vector_status`);
  await pool.query(sql.typeAlias('void')`create table vector_status.image_vectors (
    tenant_id text not null, image_id text not null, model_id text not null, model_version text not null,
    dim int not null, indexed_at timestamptz not null, primary key (tenant_id, image_id, model_id, model_version))`);
  for (const space of [v1, v2]) {
    await pool.query(sql.typeAlias('void')`
      insert into vector_status.image_vectors (tenant_id, image_id, model_id, model_version, dim, indexed_at)
      select tenant_id, aggregate_id, ${space.modelId}, ${space.modelVersion}, 512, now()
      from write.aggregates where tenant_id = ${tenantId}
      order by aggregate_id offset ${space === v2 ? missing : 0}`);
  }
  await pool.query(sql.typeAlias('void')`analyze`);
  console.log(
    `${images} live images, ${missing} without a v2 vector (set up in ${Math.round(performance.now() - loaded)} ms)`,
  );

  const timeOf = async (run: () => Promise<unknown>) => {
    await run();
    const times: number[] = [];
    for (let i = 0; i < 9; i++) {
      const started = performance.now();
      await run();
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return { median: times[4]!, worst: times[8]! };
  };
  const check = await timeOf(async () => {
    const [row] = await embeddingSpaceMoveProgress(pool, v2, tenantId);
    if (row?.missing !== missing) throw new Error(`expected ${missing} missing, got ${row?.missing}`);
  });
  const readApiCheck = await timeOf(async () => {
    const left = await missingInTargetSpace(pool, tenantId, v2);
    if (left !== missing) throw new Error(`expected ${missing} missing, got ${left}`);
  });
  const floor = await timeOf(() =>
    pool.oneFirst(
      sql.type(z.object({ count: z.number() }))`
        select count(*)::int as count from write.aggregates where tenant_id = ${tenantId} and aggregate_type = 'image'`,
    ),
  );
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  console.log(
    `the read API's check (missingInTargetSpace): median ${ms(readApiCheck.median)}, worst ${ms(readApiCheck.worst)}`,
  );
  console.log(
    `the command's progress (embeddingSpaceMoveProgress): median ${ms(check.median)}, worst ${ms(check.worst)}`,
  );
  console.log(`count(*) of the tenant's images: median ${ms(floor.median)}, worst ${ms(floor.worst)}`);
  console.log(
    `the read API's check: ${(readApiCheck.median / floor.median).toFixed(1)}x the count; checked every ` +
      `${(Math.max(2000, 20 * readApiCheck.median) / 1000).toFixed(1)} s (2 s, or 20x its time): ` +
      `${((readApiCheck.median / Math.max(2000, 20 * readApiCheck.median)) * 100).toFixed(1)} % of a core per read API per tenant moving`,
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
