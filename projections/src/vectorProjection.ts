import { z } from 'zod';
import type { DeepLensEventType } from '@deeplens/events/domainEvent';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import type { TenantDeleted } from '@deeplens/events/tenantEvents';
import { sql } from '@deeplens/platform/database';
import {
  tenantCollectionPrefix,
  vectorCollectionName,
  type VectorIndex,
  type VectorPayload,
} from '@deeplens/platform/vectorIndex';
import { faultPoint } from './faultInjection.ts';
import { fromEpochMs, mustCreateSchema } from './metadataSchema.ts';
import {
  applyIsolatingPoison,
  describeError,
  dropGenerationSchemas,
  inCheckpointedTransaction,
  lockTenants,
  readCheckpoints,
  renameSchemasForSwitch,
} from './postgresProjection.ts';
import {
  checkpointKey,
  type Checkpoints,
  type PoisonRecord,
  type Projection,
  type ProjectionDefinition,
  type RecordedEvent,
  type Transaction,
} from './projection.ts';
import { isTransientError } from './transientErrors.ts';

export const vectorProjectionName = 'vectors';
const vectorStatusSchemaBase = /vector_status/;

/**
 * Where the vector projection keeps each image's tags and attributes between `ImageUploaded`
 * and `ImageEmbedded` (points of one dimension): in the index itself, so the index's own
 * commits carry them and a replay needs nothing else.
 */
export function imagePayloadCollection(tenantId: string): string {
  return `${tenantId}__images`;
}

const canHandle: readonly DeepLensEventType[] = [
  'ImageUploaded',
  'ImageEmbedded',
  'ImageMetadataUpdated',
  'ImageDeleted',
  'TenantDeleted',
];

type VectorEvent = ImageEvent | TenantDeleted;

type IndexState = { checkpoints: Record<string, number>; tombstones: string[] };

const payloadPoint = Float32Array.of(1);

async function ensureStatusSchema(tx: Transaction, schema: string): Promise<void> {
  if (!(await mustCreateSchema(tx, schema, 'deleted_tenants'))) return;
  const s = (table: string) => sql.identifier([schema, table]);
  await tx.query(sql.unsafe`create schema if not exists ${sql.identifier([schema])}`);
  // A row per image and model version whose vector is in the index: what makes an image
  // `indexed` on the read side (joined with the metadata read model at query time).
  await tx.query(sql.unsafe`
    create table if not exists ${s('image_vectors')} (
      tenant_id text not null,
      image_id text not null,
      model_id text not null,
      model_version text not null,
      dim int not null,
      indexed_at timestamptz not null,
      primary key (tenant_id, image_id, model_id, model_version)
    )`);
  await tx.query(sql.unsafe`create table if not exists ${s('deleted_tenants')} (tenant_id text primary key)`);
}

const tenantRow = z.object({ tenant_id: z.string() });

async function applyStatus(tx: Transaction, schema: string, records: RecordedEvent[]): Promise<void> {
  await ensureStatusSchema(tx, schema);
  const s = (table: string) => sql.identifier([schema, table]);
  const events = records.map((r) => r.event as VectorEvent);
  const tenantIds = [...new Set(events.map((e) => e.data.tenantId))];
  await lockTenants(
    tx,
    events.filter((e) => e.type === 'TenantDeleted').map((e) => e.data.tenantId),
    tenantIds,
  );
  const tombstoned = new Set(
    (
      await tx.any(sql.type(tenantRow)`
        select tenant_id from ${s('deleted_tenants')} where tenant_id = any(${sql.array(tenantIds, 'text')})`)
    ).map((r) => r.tenant_id),
  );
  const inserts = new Map<string, Record<string, unknown>>();
  const deletes: { tenant_id: string; image_id: string }[] = [];
  const erased: string[] = [];
  for (const event of events) {
    const { tenantId } = event.data;
    if (tombstoned.has(tenantId)) continue;
    if (event.type === 'TenantDeleted') {
      tombstoned.add(tenantId);
      erased.push(tenantId);
      for (const [key, row] of inserts) if (row.tenant_id === tenantId) inserts.delete(key);
    } else if (event.type === 'ImageEmbedded') {
      const d = event.data;
      inserts.set(`${d.imageId}:${d.modelId}@${d.modelVersion}`, {
        tenant_id: tenantId,
        image_id: d.imageId,
        model_id: d.modelId,
        model_version: d.modelVersion,
        dim: d.dim,
        indexed_at: event.metadata.occurredAt,
      });
    } else if (event.type === 'ImageDeleted') {
      deletes.push({ tenant_id: tenantId, image_id: event.data.imageId });
      for (const [key, row] of inserts) if (row.image_id === event.data.imageId) inserts.delete(key);
    }
  }
  if (erased.length > 0) {
    const ids = sql.array(erased, 'text');
    await tx.query(
      sql.unsafe`insert into ${s('deleted_tenants')} select unnest(${ids}::text[]) on conflict do nothing`,
    );
    await tx.query(sql.unsafe`delete from ${s('image_vectors')} where tenant_id = any(${ids})`);
  }
  if (deletes.length > 0) {
    await tx.query(sql.unsafe`
      delete from ${s('image_vectors')} v using jsonb_to_recordset(${sql.jsonb(deletes)}) as x(tenant_id text, image_id text)
      where v.tenant_id = x.tenant_id and v.image_id = x.image_id`);
  }
  if (inserts.size > 0) {
    await tx.query(sql.unsafe`
      insert into ${s('image_vectors')} (tenant_id, image_id, model_id, model_version, dim, indexed_at)
      select x.tenant_id, x.image_id, x.model_id, x.model_version, x.dim, ${fromEpochMs(sql.fragment`x.indexed_at`)}
      from jsonb_to_recordset(${sql.jsonb([...inserts.values()] as never)})
        as x(tenant_id text, image_id text, model_id text, model_version text, dim int, indexed_at bigint)
      on conflict do nothing`);
  }
}

/**
 * Applies events to the index, coalescing consecutive upserts into one call per collection
 * (one request for Qdrant). Answers the events that failed for a reason of their own.
 */
async function applyToIndex(
  index: VectorIndex,
  tombstones: Set<string>,
  records: RecordedEvent[],
): Promise<PoisonRecord[]> {
  const poison: PoisonRecord[] = [];
  for (const record of records) {
    const event = record.event as VectorEvent;
    const { tenantId } = event.data;
    if (tombstones.has(tenantId)) continue;
    try {
      await applyOne(index, tombstones, event);
    } catch (error) {
      if (isTransientError(error)) throw error;
      poison.push({
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        error: `[${event.type}] ${describeError(error)}`,
        value: null,
      });
    }
  }
  return poison;
}

async function applyOne(index: VectorIndex, tombstones: Set<string>, event: VectorEvent): Promise<void> {
  const { tenantId } = event.data;
  const prefix = tenantCollectionPrefix(tenantId);
  const payloads = imagePayloadCollection(tenantId);
  switch (event.type) {
    case 'ImageUploaded':
    case 'ImageMetadataUpdated': {
      const payload: VectorPayload = { tags: event.data.tags, attributes: event.data.attributes };
      await index.upsert(payloads, [{ id: event.data.imageId, vector: payloadPoint, payload }]);
      if (event.type === 'ImageMetadataUpdated') {
        for (const collection of await index.collections(prefix)) {
          if (collection !== payloads) await index.setPayload(collection, [event.data.imageId], payload);
        }
      }
      return;
    }
    case 'ImageEmbedded': {
      const d = event.data;
      const [stored] = await index.get(payloads, [d.imageId]);
      await index.upsert(vectorCollectionName(tenantId, d.modelId, d.modelVersion), [
        { id: d.imageId, vector: d.vector, payload: stored?.payload ?? { tags: [], attributes: {} } },
      ]);
      return;
    }
    case 'ImageDeleted':
      for (const collection of await index.collections(prefix))
        await index.delete(collection, [event.data.imageId]);
      return;
    case 'TenantDeleted':
      for (const collection of await index.collections(prefix)) await index.dropCollection(collection);
      tombstones.add(tenantId);
      return;
    case 'ImageEmbeddingFailed':
    case 'ThumbnailGenerated':
      return;
  }
}

/**
 * The vector read model: the index (embedded HNSW or Qdrant) plus, in PostgreSQL, which images
 * are indexed (`vector_status.image_vectors`). They are two stores with one checkpoint each —
 * the index commits its checkpoint with its own changes, the status table in its transaction —
 * and a batch goes to the index first, so `indexed` is never claimed before the vector is
 * searchable. The runner resumes at the lower of the two; each store skips what it has.
 */
export const vectorProjection: ProjectionDefinition = {
  name: vectorProjectionName,
  version: 1,
  async open(deps, generation): Promise<Projection> {
    if (!deps.openVectorIndex) throw new Error('the vector projection needs openVectorIndex');
    const { pool } = deps;
    const index = await deps.openVectorIndex(generation, 'writer');
    const committed = (await index.committedState()) as IndexState | undefined;
    const indexCheckpoints: Checkpoints = new Map(Object.entries(committed?.checkpoints ?? {}));
    const tombstones = new Set(committed?.tombstones ?? []);
    const handled = new Set<string>(canHandle);
    return {
      name: vectorProjectionName,
      version: 1,
      generation,
      canHandle,
      async checkpoints() {
        const status = await readCheckpoints(pool, vectorProjectionName, generation);
        const out: Checkpoints = new Map();
        for (const key of new Set([...status.keys(), ...indexCheckpoints.keys()])) {
          out.set(key, Math.min(status.get(key) ?? -1, indexCheckpoints.get(key) ?? -1));
        }
        return out;
      },
      async handle(batch) {
        const key = checkpointKey(batch.topic, batch.partition);
        const indexCheckpoint = indexCheckpoints.get(key) ?? -1;
        let indexPoison: PoisonRecord[] = [];
        if (batch.lastOffset > indexCheckpoint) {
          const events = batch.events.filter((e) => e.offset > indexCheckpoint && handled.has(e.event.type));
          indexPoison = await applyToIndex(index, tombstones, events);
          faultPoint('vectors.beforeIndexCommit');
          const checkpoints = { ...Object.fromEntries(indexCheckpoints), [key]: batch.lastOffset };
          await index.commit({ checkpoints, tombstones: [...tombstones] });
          indexCheckpoints.set(key, batch.lastOffset);
        }
        faultPoint('vectors.afterIndexCommit');
        const skipped = new Set(indexPoison.map((p) => p.offset));
        await inCheckpointedTransaction(
          pool,
          vectorProjectionName,
          generation,
          { ...batch, poison: [...batch.poison, ...indexPoison] },
          (tx, events, context) =>
            applyIsolatingPoison(
              tx,
              events.filter((e) => handled.has(e.event.type) && !skipped.has(e.offset)),
              (savepoint, some) => applyStatus(savepoint, context.schema('vector_status'), some),
            ),
          async () => faultPoint('vectors.beforeCommit'),
        );
      },
      async truncate() {
        for (const collection of await index.collections()) await index.dropCollection(collection);
        indexCheckpoints.clear();
        tombstones.clear();
        await index.commit({ checkpoints: {}, tombstones: [] });
        const active = await pool.maybeOneFirst(sql.type(z.object({ status: z.string() }))`
          select status from projections.generations
          where projection = ${vectorProjectionName} and generation = ${generation}`);
        await dropGenerationSchemas(pool, vectorStatusSchemaBase, generation, active === 'active');
        await pool.query(sql.unsafe`
          delete from projections.checkpoints where projection = ${vectorProjectionName} and generation = ${generation}`);
      },
      close: () => index.close(),
    };
  },
  activate: (tx, from, to) => renameSchemasForSwitch(tx, vectorStatusSchemaBase, from, to),
  async drop(deps, generation) {
    await deps.dropVectorIndex?.(generation);
    await dropGenerationSchemas(deps.pool, vectorStatusSchemaBase, generation);
  },
};
