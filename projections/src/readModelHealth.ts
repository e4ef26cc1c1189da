import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { tenantSchemaBase } from './metadataSchema.ts';
import { schemaOfGeneration } from './postgresProjection.ts';

/** Tables a projection's read model holds once it has applied anything, by base schema. */
const expectedTables: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  metadata: [
    ['platform', 'tenants'],
    ['platform', 'users'],
    ['platform', 'api_keys'],
  ],
  usage: [
    ['usage', 'tenant_usage'],
    ['usage', 'image_sizes'],
  ],
  vectors: [['vector_status', 'image_vectors']],
  history: [
    ['history', 'image_events'],
    ['history', 'images'],
  ],
};

const nameRow = z.object({ name: z.string() });

/**
 * What is missing of a projection generation's read model, given that its checkpoints say it
 * has applied records (`[]` when whole). Checks the PostgreSQL side: the schemas and tables it
 * creates and, for the metadata projection, one schema per tenant that is not deleted. (The
 * vector index needs no check here: its checkpoints live in the index itself, so lost files
 * replay from offset 0 anyway.)
 */
export async function readModelGaps(
  pool: DatabasePool,
  projection: string,
  generation: number,
  active: boolean,
): Promise<string[]> {
  const tables = (expectedTables[projection] ?? []).map(
    ([schema, table]) => `${schemaOfGeneration(schema, generation, active)}.${table}`,
  );
  const gaps = [
    ...(await pool.any(sql.type(nameRow)`
      select t.name from unnest(${sql.array(tables, 'text')}) as t(name) where to_regclass(t.name) is null`)),
  ].map((r) => r.name);
  if (projection === 'metadata' && gaps.length === 0) {
    const platform = schemaOfGeneration('platform', generation, active);
    const tenants = await pool.anyFirst(sql.type(z.object({ tenant_id: z.string() }))`
      select tenant_id from ${sql.identifier([platform, 'tenants'])} where status <> 'deleted'`);
    const schemas = tenants.map((id) => schemaOfGeneration(tenantSchemaBase(id), generation, active));
    gaps.push(
      ...(
        await pool.any(sql.type(nameRow)`
          select s.name from unnest(${sql.array(schemas, 'text')}) as s(name)
          where to_regclass(s.name || '.images') is null`)
      ).map((r) => `${r.name}.images`),
    );
  }
  return gaps;
}
