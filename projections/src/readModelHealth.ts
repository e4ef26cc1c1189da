import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { tenantSchemaBase } from './metadataSchema.ts';
import { schemaOfGeneration } from './postgresProjection.ts';
import { isMissingDatabase, type TenantDatabases } from './tenantDatabases.ts';

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

async function tableExists(pool: DatabasePool, schema: string, table: string): Promise<boolean> {
  return pool.oneFirst(sql.type(z.object({ present: z.boolean() }))`
    select to_regclass(${`"${schema}"."${table}"`}) is not null as present`);
}

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
  databases?: TenantDatabases,
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
    // A dedicated tenant's schema lives in its own database: that database must be there.
    const dedicated = (await tableExists(pool, platform, 'tenant_databases'))
      ? await pool.any(sql.type(
          z.object({ tenant_id: z.string(), target: z.string(), database: z.string() }),
        )`
          select d.tenant_id, d.target, d.database from ${sql.identifier([platform, 'tenant_databases'])} d
          join ${sql.identifier([platform, 'tenants'])} t using (tenant_id) where t.status <> 'deleted'`)
      : [];
    for (const d of dedicated) {
      const table = `${d.database}:${tenantSchemaBase(d.tenant_id)}.images`;
      if (!databases) {
        gaps.push(`${table} (no dedicated databases configured)`);
        continue;
      }
      try {
        const db = await databases.pool({ target: d.target, database: d.database });
        const present = await db.oneFirst(sql.type(z.object({ present: z.boolean() }))`
          select to_regclass(${`"${tenantSchemaBase(d.tenant_id)}".images`}) is not null as present`);
        if (!present) gaps.push(table);
      } catch (error) {
        if (!isMissingDatabase(error)) throw error;
        await databases.forget({ target: d.target, database: d.database });
        gaps.push(table);
      }
    }
    const shared = new Set(dedicated.map((d) => d.tenant_id));
    const tenants = (
      await pool.anyFirst(sql.type(z.object({ tenant_id: z.string() }))`
        select tenant_id from ${sql.identifier([platform, 'tenants'])} where status <> 'deleted'`)
    ).filter((id) => !shared.has(id));
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
