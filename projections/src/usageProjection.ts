import { z } from 'zod';
import type { ImageDeleted, ImageUploaded } from '@deeplens/events/imageEvents';
import type { TenantDeleted } from '@deeplens/events/tenantEvents';
import { sql } from '@deeplens/platform/database';
import { fromEpochMs, mustCreateSchema } from './metadataSchema.ts';
import {
  dropGenerationSchemas,
  lockTenantsOfBatch,
  postgresProjection,
  renameSchemasForSwitch,
} from './postgresProjection.ts';
import type { ProjectionDefinition, Transaction } from './projection.ts';

export const usageProjectionName = 'usage';
const usageSchemaBase = /usage/;

type UsageEvent = ImageUploaded | ImageDeleted | TenantDeleted;

async function ensureUsageSchema(tx: Transaction, schema: string): Promise<void> {
  if (!(await mustCreateSchema(tx, schema, 'deleted_tenants'))) return;
  const s = (table: string) => sql.identifier([schema, table]);
  await tx.query(sql.typeAlias('void')`create schema if not exists ${sql.identifier([schema])}`);
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('tenant_usage')} (
      tenant_id text primary key,
      images bigint not null,
      bytes bigint not null,
      updated_at timestamptz not null
    )`);
  // One row per image ever counted: what makes re-applying an upload or a delete a no-op.
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('image_sizes')} (
      image_id text primary key,
      tenant_id text not null,
      bytes bigint not null,
      deleted boolean not null,
      version int not null
    )`);
  await tx.query(
    sql.typeAlias('void')`create index if not exists image_sizes_tenant on ${s('image_sizes')} (tenant_id)`,
  );
  await tx.query(
    sql.typeAlias('void')`create table if not exists ${s('deleted_tenants')} (tenant_id text primary key)`,
  );
}

const sizeRow = z.object({
  image_id: z.string(),
  tenant_id: z.string(),
  bytes: z.number(),
  deleted: z.boolean(),
  version: z.number(),
});

/**
 * Images and bytes per tenant for `GET /v1/tenants/{id}/usage`. This is the read side's copy:
 * the write side keeps the exact figures in `write.usage_stripes` inside each command's
 * transaction (that is what plan limits are enforced against); this one trails the log.
 */
export const usageProjection: ProjectionDefinition = {
  name: usageProjectionName,
  version: 1,
  async open({ pool }, generation) {
    return postgresProjection({
      pool,
      name: usageProjectionName,
      version: 1,
      generation,
      canHandle: ['ImageUploaded', 'ImageDeleted', 'TenantDeleted'],
      async apply(tx, records, context) {
        const schema = context.schema('usage');
        const s = (table: string) => sql.identifier([schema, table]);
        await ensureUsageSchema(tx, schema);
        const events = records.map((r) => r.event as UsageEvent);
        const { erased: tombstoned } = await lockTenantsOfBatch(tx, schema, events);
        const imageIds = events.flatMap((e) => (e.type === 'TenantDeleted' ? [] : [e.data.imageId]));
        const sizes = new Map(
          (
            await tx.any(sql.type(sizeRow)`
              select image_id, tenant_id, bytes, deleted, version from ${s('image_sizes')}
              where image_id = any(${sql.array(imageIds, 'text')})`)
          ).map((r) => [r.image_id, r]),
        );
        const changedSizes = new Set<string>();
        const delta = new Map<string, { images: number; bytes: number; at: number }>();
        const add = (tenantId: string, images: number, bytes: number, at: number) => {
          const d = delta.get(tenantId) ?? { images: 0, bytes: 0, at };
          delta.set(tenantId, { images: d.images + images, bytes: d.bytes + bytes, at: Math.max(d.at, at) });
        };
        const erased: string[] = [];
        for (const event of events) {
          const { tenantId } = event.data;
          if (tombstoned.has(tenantId)) continue;
          const { aggregateVersion: version, occurredAt: at } = event.metadata;
          if (event.type === 'TenantDeleted') {
            tombstoned.add(tenantId);
            erased.push(tenantId);
            delta.delete(tenantId);
            continue;
          }
          const row = sizes.get(event.data.imageId);
          if (event.type === 'ImageUploaded' && !row) {
            sizes.set(event.data.imageId, {
              image_id: event.data.imageId,
              tenant_id: tenantId,
              bytes: event.data.bytes,
              deleted: false,
              version,
            });
            add(tenantId, 1, event.data.bytes, at);
            changedSizes.add(event.data.imageId);
          } else if (event.type === 'ImageDeleted' && row && !row.deleted && version > row.version) {
            sizes.set(row.image_id, { ...row, deleted: true, version });
            add(tenantId, -1, -row.bytes, at);
            changedSizes.add(row.image_id);
          }
        }
        if (erased.length > 0) {
          const ids = sql.array(erased, 'text');
          await tx.query(
            sql.typeAlias(
              'void',
            )`insert into ${s('deleted_tenants')} select unnest(${ids}::text[]) on conflict do nothing`,
          );
          await tx.query(
            sql.typeAlias('void')`delete from ${s('tenant_usage')} where tenant_id = any(${ids})`,
          );
          await tx.query(
            sql.typeAlias('void')`delete from ${s('image_sizes')} where tenant_id = any(${ids})`,
          );
        }
        const ledger = [...changedSizes]
          .map((id) => sizes.get(id)!)
          .filter((r) => !tombstoned.has(r.tenant_id));
        if (ledger.length > 0) {
          await tx.query(sql.typeAlias('void')`
            insert into ${s('image_sizes')} (image_id, tenant_id, bytes, deleted, version)
            select x.image_id, x.tenant_id, x.bytes, x.deleted, x.version
            from jsonb_to_recordset(${sql.jsonb(ledger)})
              as x(image_id text, tenant_id text, bytes bigint, deleted boolean, version int)
            on conflict (image_id) do update set deleted = excluded.deleted, version = excluded.version`);
        }
        // Tenants in a fixed order, so concurrent batches lock their rows without deadlocking.
        for (const [tenantId, d] of [...delta].sort(([a], [b]) => (a < b ? -1 : 1))) {
          const at = fromEpochMs(sql.fragment`${d.at}::bigint`);
          await tx.query(sql.typeAlias('void')`
            insert into ${s('tenant_usage')} as u (tenant_id, images, bytes, updated_at)
            values (${tenantId}, ${d.images}, ${d.bytes}, ${at})
            on conflict (tenant_id) do update set images = u.images + excluded.images,
              bytes = u.bytes + excluded.bytes, updated_at = greatest(u.updated_at, excluded.updated_at)`);
        }
      },
      dropStorage: (p, gen, active) => dropGenerationSchemas(p, usageSchemaBase, gen, active),
    });
  },
  activate: (tx, from, to) => renameSchemasForSwitch(tx, usageSchemaBase, from, to),
  drop: ({ pool }, generation) => dropGenerationSchemas(pool, usageSchemaBase, generation),
};
