import { z } from 'zod';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import type { TenantDeleted } from '@deeplens/events/tenantEvents';
import { sql } from '@deeplens/platform/database';
import { evolveImageHistory, type HistoryEntry, type ImageHistoryState } from './imageHistory.ts';
import { fromEpochMs, mustCreateSchema } from './metadataSchema.ts';
import {
  dropGenerationSchemas,
  lockTenantsOfBatch,
  postgresProjection,
  renameSchemasForSwitch,
} from './postgresProjection.ts';
import type { ProjectionDefinition, Transaction } from './projection.ts';

export const imageHistoryProjectionName = 'history';
/** The schema of the history read model (`history__g<N>` while a rebuild builds it). */
export const imageHistorySchema = 'history';
const imageHistorySchemaBase = /history/;

type HistoryEvent = ImageEvent | TenantDeleted;

async function ensureHistorySchema(tx: Transaction, schema: string): Promise<void> {
  if (!(await mustCreateSchema(tx, schema, 'deleted_tenants'))) return;
  const s = (table: string) => sql.identifier([schema, table]);
  await tx.query(sql.typeAlias('void')`create schema if not exists ${sql.identifier([schema])}`);
  // One row per image event, in the image's version order (= its order in the log).
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('image_events')} (
      tenant_id text not null,
      image_id text not null,
      version int not null,
      event_id text not null,
      type text not null,
      occurred_at timestamptz not null,
      actor text not null,
      correlation_id text not null,
      causation_id text,
      changes jsonb not null,
      details jsonb not null,
      topic text not null,
      partition int not null,
      "offset" bigint not null,
      primary key (tenant_id, image_id, version)
    )`);
  // What the next event's "before" is read from; also which tenant an image belongs to.
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('images')} (
      image_id text primary key,
      tenant_id text not null,
      status text,
      tags jsonb,
      attributes jsonb,
      version int not null
    )`);
  await tx.query(
    sql.typeAlias('void')`create index if not exists images_tenant on ${s('images')} (tenant_id)`,
  );
  await tx.query(
    sql.typeAlias('void')`create table if not exists ${s('deleted_tenants')} (tenant_id text primary key)`,
  );
}

const stateRow = z.object({
  image_id: z.string(),
  tenant_id: z.string(),
  status: z.enum(['uploaded', 'embedded', 'failed', 'deleted']).nullable(),
  tags: z.array(z.string()).nullable(),
  attributes: z.record(z.string(), z.string()).nullable(),
  version: z.number(),
});

/**
 * Every event of every image, in log order, with who caused it, its correlation id and what it
 * changed, for `GET /v1/images/{id}/history`. A deleted image keeps its history (readable by
 * its tenant); the tenant's erasure (`TenantDeleted`) removes all of it and leaves a tombstone,
 * so later records of the erased tenant are ignored, in either order.
 */
export const imageHistoryProjection: ProjectionDefinition = {
  name: imageHistoryProjectionName,
  version: 1,
  async open({ pool }, generation) {
    return postgresProjection({
      pool,
      name: imageHistoryProjectionName,
      version: 1,
      generation,
      canHandle: [
        'ImageUploaded',
        'ImageEmbedded',
        'ImageEmbeddingFailed',
        'ThumbnailGenerated',
        'ImageMetadataUpdated',
        'ImageDeleted',
        'TenantDeleted',
      ],
      async apply(tx, records, context) {
        const schema = context.schema(imageHistorySchema);
        const s = (table: string) => sql.identifier([schema, table]);
        await ensureHistorySchema(tx, schema);
        const events = records.map((r) => r.event as HistoryEvent);
        const { erased: tombstoned } = await lockTenantsOfBatch(tx, schema, events);
        const imageIds = [
          ...new Set(events.flatMap((e) => (e.type === 'TenantDeleted' ? [] : [e.data.imageId]))),
        ];
        const states = new Map<string, ImageHistoryState>(
          (
            await tx.any(sql.type(stateRow)`
              select image_id, tenant_id, status, tags, attributes, version from ${s('images')}
              where image_id = any(${sql.array(imageIds, 'text')})`)
          ).map((r) => [
            r.image_id,
            {
              imageId: r.image_id,
              tenantId: r.tenant_id,
              status: r.status,
              tags: r.tags,
              attributes: r.attributes,
              version: r.version,
            },
          ]),
        );
        const entries: (HistoryEntry & { topic: string; partition: number; offset: number })[] = [];
        const changed = new Set<string>();
        const erased: string[] = [];
        for (const { event, topic, partition, offset } of records as {
          event: HistoryEvent;
          topic: string;
          partition: number;
          offset: number;
        }[]) {
          const { tenantId } = event.data;
          if (tombstoned.has(tenantId)) continue;
          if (event.type === 'TenantDeleted') {
            tombstoned.add(tenantId);
            erased.push(tenantId);
            continue;
          }
          const known = states.get(event.data.imageId);
          // An image id is one tenant's: a record naming it under another tenant is not its history.
          if (known && known.tenantId !== tenantId) continue;
          const next = evolveImageHistory(known, event);
          if (!next) continue;
          states.set(event.data.imageId, next.state);
          changed.add(event.data.imageId);
          entries.push({ ...next.entry, topic, partition, offset });
        }
        if (erased.length > 0) {
          const ids = sql.array(erased, 'text');
          await tx.query(
            sql.typeAlias(
              'void',
            )`insert into ${s('deleted_tenants')} select unnest(${ids}::text[]) on conflict do nothing`,
          );
          await tx.query(
            sql.typeAlias('void')`delete from ${s('image_events')} where tenant_id = any(${ids})`,
          );
          await tx.query(sql.typeAlias('void')`delete from ${s('images')} where tenant_id = any(${ids})`);
        }
        const kept = entries.filter((e) => !tombstoned.has(e.tenantId));
        if (kept.length > 0) {
          const rows = kept.map((e) => ({
            tenant_id: e.tenantId,
            image_id: e.imageId,
            version: e.version,
            event_id: e.eventId,
            type: e.type,
            occurred_at: e.occurredAt,
            actor: e.actor,
            correlation_id: e.correlationId,
            causation_id: e.causationId,
            changes: e.changes,
            details: e.details,
            topic: e.topic,
            partition: e.partition,
            offset: e.offset,
          }));
          await tx.query(sql.typeAlias('void')`
            insert into ${s('image_events')} (tenant_id, image_id, version, event_id, type, occurred_at, actor,
              correlation_id, causation_id, changes, details, topic, partition, "offset")
            select x.tenant_id, x.image_id, x.version, x.event_id, x.type, ${fromEpochMs(sql.fragment`x.occurred_at`)},
              x.actor, x.correlation_id, x.causation_id, x.changes, x.details, x.topic, x.partition, x.offset
            from jsonb_to_recordset(${sql.jsonb(rows)}) as x(tenant_id text, image_id text, version int,
              event_id text, type text, occurred_at bigint, actor text, correlation_id text, causation_id text,
              changes jsonb, details jsonb, topic text, partition int, "offset" bigint)
            on conflict do nothing`);
        }
        const images = [...changed]
          .map((id) => states.get(id)!)
          .filter((state) => !tombstoned.has(state.tenantId))
          .map((state) => ({
            image_id: state.imageId,
            tenant_id: state.tenantId,
            status: state.status,
            tags: state.tags,
            attributes: state.attributes,
            version: state.version,
          }));
        if (images.length > 0) {
          await tx.query(sql.typeAlias('void')`
            insert into ${s('images')} (image_id, tenant_id, status, tags, attributes, version)
            select x.image_id, x.tenant_id, x.status, x.tags, x.attributes, x.version
            from jsonb_to_recordset(${sql.jsonb(images)})
              as x(image_id text, tenant_id text, status text, tags jsonb, attributes jsonb, version int)
            on conflict (image_id) do update set status = excluded.status, tags = excluded.tags,
              attributes = excluded.attributes, version = excluded.version
            where ${s('images')}.version < excluded.version`);
        }
      },
      // Even a batch with no image event leaves the (empty) read model in place, so the health
      // check at start can tell a lost read model from one that never had anything to hold.
      beforeCommit: (tx, context) => ensureHistorySchema(tx, context.schema(imageHistorySchema)),
      dropStorage: (p, gen, active) => dropGenerationSchemas(p, imageHistorySchemaBase, gen, active),
    });
  },
  activate: (tx, from, to) => renameSchemasForSwitch(tx, imageHistorySchemaBase, from, to),
  drop: ({ pool }, generation) => dropGenerationSchemas(pool, imageHistorySchemaBase, generation),
};
