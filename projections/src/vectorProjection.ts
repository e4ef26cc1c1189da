import { z } from 'zod';
import type { DeepLensEventType } from '@deeplens/events/domainEvent';
import type { EmbeddingSpaceRetired } from '@deeplens/events/embeddingSpaceEvents';
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
  poisonError,
  dropGenerationSchemas,
  inCheckpointedTransaction,
  lockTenantsOfBatch,
  readCheckpoints,
  renameSchemasForSwitch,
} from './postgresProjection.ts';
import {
  checkpointKey,
  type Checkpoints,
  type PoisonRecord,
  type Projection,
  type ProjectionBatch,
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
  'EmbeddingSpaceRetired',
];

type VectorEvent = ImageEvent | TenantDeleted;

/**
 * A retired embedding space (`EmbeddingSpaceRetired`), as `modelId@modelVersion`: its collections
 * are dropped, its status rows deleted, and its `ImageEmbedded` events skipped from then on — in
 * a replay from offset 0 too, so a rebuild never brings it back (at worst a replay indexes some
 * of its vectors before it reads the retirement, which drops them again).
 */
export function retiredSpaceName(space: { modelId: string; modelVersion: string }): string {
  return `${space.modelId}@${space.modelVersion}`;
}

const isRetirement = (event: { type: string }): event is EmbeddingSpaceRetired =>
  event.type === 'EmbeddingSpaceRetired';

type IndexState = {
  checkpoints: Record<string, number>;
  tombstones: string[];
  /** Retired spaces (`retiredSpaceName`); absent in a state committed before retirement existed. */
  retiredSpaces?: string[];
};

const payloadPoint = Float32Array.of(1);

async function ensureStatusSchema(tx: Transaction, schema: string): Promise<void> {
  // `retired_spaces` is the last table: a schema from before it gets it on its next batch.
  if (!(await mustCreateSchema(tx, schema, 'retired_spaces'))) return;
  const s = (table: string) => sql.identifier([schema, table]);
  await tx.query(sql.typeAlias('void')`create schema if not exists ${sql.identifier([schema])}`);
  // A row per image and model version whose vector is in the index: what makes an image
  // `indexed` on the read side (joined with the metadata read model at query time).
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('image_vectors')} (
      tenant_id text not null,
      image_id text not null,
      model_id text not null,
      model_version text not null,
      dim int not null,
      indexed_at timestamptz not null,
      primary key (tenant_id, image_id, model_id, model_version)
    )`);
  await tx.query(
    sql.typeAlias('void')`create table if not exists ${s('deleted_tenants')} (tenant_id text primary key)`,
  );
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('retired_spaces')} (
      model_id text not null,
      model_version text not null,
      replaced_by text not null,
      retired_at timestamptz not null,
      primary key (model_id, model_version)
    )`);
}

const retiredRow = z.object({ model_id: z.string(), model_version: z.string() });

type StatusRow = {
  tenant_id: string;
  image_id: string;
  model_id: string;
  model_version: string;
  dim: number;
  indexed_at: number;
};

async function applyStatus(tx: Transaction, schema: string, records: RecordedEvent[]): Promise<void> {
  await ensureStatusSchema(tx, schema);
  const s = (table: string) => sql.identifier([schema, table]);
  const retirements = records.map((r) => r.event).filter(isRetirement);
  if (retirements.length > 0) await applyRetirements(tx, schema, retirements);
  const retired = new Set(
    (await tx.any(sql.type(retiredRow)`select model_id, model_version from ${s('retired_spaces')}`)).map(
      (r) => retiredSpaceName({ modelId: r.model_id, modelVersion: r.model_version }),
    ),
  );
  const events = records.filter((r) => !isRetirement(r.event)).map((r) => r.event as VectorEvent);
  const { erased: tombstoned } = await lockTenantsOfBatch(tx, schema, events);
  const inserts = new Map<string, StatusRow>();
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
      if (retired.has(retiredSpaceName(d))) continue;
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
      sql.typeAlias(
        'void',
      )`insert into ${s('deleted_tenants')} select unnest(${ids}::text[]) on conflict do nothing`,
    );
    await tx.query(sql.typeAlias('void')`delete from ${s('image_vectors')} where tenant_id = any(${ids})`);
  }
  if (deletes.length > 0) {
    await tx.query(sql.typeAlias('void')`
      delete from ${s('image_vectors')} v using jsonb_to_recordset(${sql.jsonb(deletes)}) as x(tenant_id text, image_id text)
      where v.tenant_id = x.tenant_id and v.image_id = x.image_id`);
  }
  if (inserts.size > 0) {
    // Column arrays rather than one JSON document: thousands of rows per batch in a rebuild.
    const rows = [...inserts.values()];
    const column = (name: keyof StatusRow, type: 'text' | 'int4' | 'int8') =>
      sql.array(
        rows.map((r) => r[name]),
        type,
      );
    await tx.query(sql.typeAlias('void')`
      insert into ${s('image_vectors')} (tenant_id, image_id, model_id, model_version, dim, indexed_at)
      select x.tenant_id, x.image_id, x.model_id, x.model_version, x.dim, ${fromEpochMs(sql.fragment`x.indexed_at`)}
      from unnest(${column('tenant_id', 'text')}, ${column('image_id', 'text')}, ${column('model_id', 'text')},
        ${column('model_version', 'text')}, ${column('dim', 'int4')}, ${column('indexed_at', 'int8')})
        as x(tenant_id, image_id, model_id, model_version, dim, indexed_at)
      on conflict do nothing`);
  }
}

/**
 * Records retired spaces and deletes their status rows. Applied before the batch's other events:
 * an `ImageEmbedded` of a retired space is skipped wherever it sits in the log.
 */
async function applyRetirements(
  tx: Transaction,
  schema: string,
  retirements: EmbeddingSpaceRetired[],
): Promise<void> {
  const s = (table: string) => sql.identifier([schema, table]);
  for (const { data, metadata } of retirements) {
    await tx.query(sql.typeAlias('void')`
      insert into ${s('retired_spaces')} (model_id, model_version, replaced_by, retired_at)
      values (${data.modelId}, ${data.modelVersion}, ${data.replacedBy}, ${fromEpochMs(sql.fragment`${metadata.occurredAt}::int8`)})
      on conflict do nothing`);
    await tx.query(sql.typeAlias('void')`
      delete from ${s('image_vectors')} where model_id = ${data.modelId} and model_version = ${data.modelVersion}`);
  }
}

/**
 * Applies events to the index, coalescing consecutive upserts into one call per collection
 * (one request for Qdrant). Answers the events that failed for a reason of their own.
 */
async function applyToIndex(
  index: VectorIndex,
  tombstones: Set<string>,
  retired: Set<string>,
  records: RecordedEvent[],
): Promise<PoisonRecord[]> {
  const poison: PoisonRecord[] = [];
  // Retirements first (see applyRetirements): the batch's embeddings in a retired space are skipped.
  for (const record of records) {
    if (isRetirement(record.event)) await retireInIndex(index, retired, record.event);
  }
  for (const record of records) {
    if (isRetirement(record.event)) continue;
    const event = record.event as VectorEvent;
    const { tenantId } = event.data;
    if (tombstones.has(tenantId)) continue;
    if (event.type === 'ImageEmbedded' && retired.has(retiredSpaceName(event.data))) continue;
    try {
      await applyOne(index, tombstones, event);
    } catch (error) {
      if (isTransientError(error)) throw error;
      // Before the index commit: the group fails whole, and this record halts its partition.
      throw poisonError({
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

/** Drops every tenant's collection of the retired space, and remembers it as retired. */
async function retireInIndex(
  index: VectorIndex,
  retired: Set<string>,
  event: EmbeddingSpaceRetired,
): Promise<void> {
  const space = retiredSpaceName(event.data);
  retired.add(space);
  // vectorCollectionName: `<tenant>__<model>@<version>`.
  for (const collection of await index.collections()) {
    if (collection.endsWith(`__${space}`)) await index.dropCollection(collection);
  }
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

/** A batch waiting for the next group commit, and how to tell its `handle` call the outcome. */
type QueuedBatch = { batch: ProjectionBatch; resolve: () => void; reject: (error: unknown) => void };

/**
 * The vector read model: the index (embedded HNSW or Qdrant) plus, in PostgreSQL, which images
 * are indexed (`vector_status.image_vectors`). They are two stores with one checkpoint each —
 * the index commits its checkpoint with its own changes, the status table in its transaction —
 * and a batch goes to the index first, so `indexed` is never claimed before the vector is
 * searchable. The runner resumes at the lower of the two; each store skips what it has.
 *
 * Batches handed over at the same time (several partitions consumed concurrently, as in a
 * rebuild) are applied as one group: one index commit (one fsync'd log frame) and one status
 * transaction carry all their changes and checkpoints. Each `handle` call still returns only
 * once its batch is committed in both stores.
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
    const retired = new Set(committed?.retiredSpaces ?? []);
    const handled = new Set<string>(canHandle);

    async function applyGroup(batches: ProjectionBatch[]): Promise<void> {
      const checkpoints = Object.fromEntries(indexCheckpoints);
      const indexPoison: PoisonRecord[] = [];
      let moved = false;
      for (const batch of batches) {
        const key = checkpointKey(batch.topic, batch.partition);
        const indexCheckpoint = indexCheckpoints.get(key) ?? -1;
        if (batch.lastOffset <= indexCheckpoint) continue;
        const events = batch.events.filter((e) => e.offset > indexCheckpoint && handled.has(e.event.type));
        indexPoison.push(...(await applyToIndex(index, tombstones, retired, events)));
        checkpoints[key] = batch.lastOffset;
        moved = true;
      }
      // The status transaction is prepared while the index's log frame is written and synced,
      // and commits only after it: a row in image_vectors still means the vector is durable.
      let indexCommit = Promise.resolve();
      if (moved) {
        faultPoint('vectors.beforeIndexCommit');
        const state: IndexState = { checkpoints, tombstones: [...tombstones], retiredSpaces: [...retired] };
        indexCommit = index.commit(state).then(() => {
          for (const [key, offset] of Object.entries(checkpoints)) indexCheckpoints.set(key, offset);
          faultPoint('vectors.afterIndexCommit');
        });
        // Awaited below; until then a failure must not count as unhandled.
        indexCommit.catch(() => undefined);
      } else faultPoint('vectors.afterIndexCommit');
      const where = (p: { topic: string; partition: number; offset: number }) =>
        `${checkpointKey(p.topic, p.partition)}@${p.offset}`;
      const skipped = new Set(indexPoison.map(where));
      try {
        await inCheckpointedTransaction(
          pool,
          vectorProjectionName,
          generation,
          batches.map((batch) => ({
            ...batch,
            poison: [
              ...batch.poison,
              ...indexPoison.filter((p) => p.topic === batch.topic && p.partition === batch.partition),
            ],
          })),
          (tx, events, context) =>
            applyIsolatingPoison(
              tx,
              events.filter((e) => handled.has(e.event.type) && !skipped.has(where(e))),
              (savepoint, some) => applyStatus(savepoint, context.schema('vector_status'), some),
            ),
          async () => {
            await indexCommit;
            faultPoint('vectors.beforeCommit');
          },
        );
      } finally {
        // Also when the transaction failed first: the index's commit is not left running.
        await indexCommit;
      }
    }

    // Group commit: batches queue up while a group is being applied; the next group takes every
    // queued batch, one per partition.
    let queue: QueuedBatch[] = [];
    let draining = false;
    async function drain(): Promise<void> {
      while (queue.length > 0) {
        const group: QueuedBatch[] = [];
        const partitions = new Set<string>();
        const rest: QueuedBatch[] = [];
        for (const queued of queue) {
          const key = checkpointKey(queued.batch.topic, queued.batch.partition);
          if (partitions.has(key)) rest.push(queued);
          else {
            partitions.add(key);
            group.push(queued);
          }
        }
        queue = rest;
        try {
          await applyGroup(group.map((q) => q.batch));
          for (const q of group) q.resolve();
        } catch (error) {
          // The queued batches are refused too: none may overtake a failed one of its partition.
          const failed = [...group, ...queue];
          queue = [];
          for (const q of failed) q.reject(error);
        }
      }
      draining = false;
    }

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
      handle(batch) {
        return new Promise<void>((resolve, reject) => {
          queue.push({ batch, resolve, reject });
          if (draining) return;
          draining = true;
          // Let the batches handed over in the same turn join this group.
          setImmediate(() => void drain());
        });
      },
      async truncate() {
        for (const collection of await index.collections()) await index.dropCollection(collection);
        indexCheckpoints.clear();
        tombstones.clear();
        retired.clear();
        await index.commit({ checkpoints: {}, tombstones: [], retiredSpaces: [] });
        const active = await pool.maybeOneFirst(sql.type(z.object({ status: z.string() }))`
          select status from projections.generations
          where projection = ${vectorProjectionName} and generation = ${generation}`);
        await dropGenerationSchemas(pool, vectorStatusSchemaBase, generation, active === 'active');
        await pool.query(sql.typeAlias('void')`
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
