import { z } from 'zod';
import type { DeepLensEventType } from '@deeplens/events/domainEvent';
import { RecordFailedError } from '@deeplens/platform/consumerRuntime';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { faultPoint } from './faultInjection.ts';
import {
  checkpointKey,
  GenerationRetiredError,
  type Checkpoints,
  type PoisonRecord,
  type Projection,
  type ProjectionBatch,
  type RecordedEvent,
  type Transaction,
} from './projection.ts';
import { isTransientError } from './transientErrors.ts';

/** Where a batch is applied: the generation, and whether it is the one the read side reads. */
export type GenerationContext = {
  generation: number;
  active: boolean;
  /** The schema a base name has in this generation: the plain name once active, else suffixed. */
  schema(base: string): string;
};

export function schemaOfGeneration(base: string, generation: number, active: boolean): string {
  return active ? base : `${base}__g${generation}`;
}

export type PostgresProjectionOptions = {
  pool: DatabasePool;
  name: string;
  version: number;
  generation: number;
  canHandle: readonly DeepLensEventType[];
  /** Applies events (already filtered by `canHandle` and the checkpoint) in the batch's transaction. */
  apply(tx: Transaction, events: RecordedEvent[], context: GenerationContext): Promise<void>;
  /** Drops this generation's schemas (the checkpoints are removed by the helper). */
  dropStorage(pool: DatabasePool, generation: number, active: boolean): Promise<void>;
  /** Called after the batch's changes and before its commit (also where crash tests kill). */
  beforeCommit?: (tx: Transaction, context: GenerationContext) => Promise<void>;
};

const generationRow = z.object({ status: z.string() });
const checkpointRow = z.object({ topic: z.string(), partition: z.number(), offset: z.number() });

/** Reads a projection generation's checkpoints. */
export async function readCheckpoints(
  pool: DatabasePool | Transaction,
  projection: string,
  generation: number,
): Promise<Checkpoints> {
  const rows = await pool.any(sql.type(checkpointRow)`
    select topic, partition, "offset" from projections.checkpoints
    where projection = ${projection} and generation = ${generation}`);
  return new Map(rows.map((r) => [checkpointKey(r.topic, r.partition), r.offset]));
}

/**
 * Runs batches in one transaction with their checkpoints: locks the generation (FOR SHARE, so a
 * switch waits for it) and the batches' checkpoint rows (FOR UPDATE, in one order, so two
 * runners of the same partition serialise), drops records at or below each checkpoint, applies
 * the rest, records poison, and moves the checkpoints. The batches are of different partitions
 * (a group commit of several partitions' batches); one batch is the common case.
 */
export async function inCheckpointedTransaction(
  pool: DatabasePool,
  projection: string,
  generation: number,
  batches: readonly ProjectionBatch[],
  work: (tx: Transaction, events: RecordedEvent[], context: GenerationContext) => Promise<PoisonRecord[]>,
  beforeCommit?: (tx: Transaction, context: GenerationContext) => Promise<void>,
): Promise<void> {
  const keys = batches.map((b) => checkpointKey(b.topic, b.partition));
  if (new Set(keys).size !== keys.length) throw new Error('one transaction takes one batch per partition');
  if (batches.length === 0) return;
  const topicsOf = (some: readonly ProjectionBatch[]) =>
    sql.array(
      some.map((b) => b.topic),
      'text',
    );
  const partitionsOf = (some: readonly ProjectionBatch[]) =>
    sql.array(
      some.map((b) => b.partition),
      'int4',
    );
  const offsetsOf = (some: readonly ProjectionBatch[]) =>
    sql.array(
      some.map((b) => b.lastOffset),
      'int8',
    );
  await pool.transaction(async (tx) => {
    const row = await tx.maybeOne(sql.type(generationRow)`
      select status from projections.generations
      where projection = ${projection} and generation = ${generation} for share`);
    if (!row || row.status === 'retired') {
      throw new GenerationRetiredError(`${projection} generation ${generation} is retired`);
    }
    const active = row.status === 'active';
    const context: GenerationContext = {
      generation,
      active,
      schema: (base) => schemaOfGeneration(base, generation, active),
    };
    await tx.query(sql.typeAlias('void')`
      insert into projections.checkpoints (projection, generation, topic, partition, "offset")
      select ${projection}, ${generation}, x.topic, x.partition, -1
      from unnest(${topicsOf(batches)}, ${partitionsOf(batches)}) as x(topic, partition)
      on conflict do nothing`);
    const rows = await tx.any(sql.type(checkpointRow)`
      select topic, partition, "offset" from projections.checkpoints
      where projection = ${projection} and generation = ${generation}
        and (topic, partition) in (select * from unnest(${topicsOf(batches)}, ${partitionsOf(batches)}))
      order by topic, partition
      for update`);
    const checkpoints = new Map(rows.map((r) => [checkpointKey(r.topic, r.partition), r.offset]));
    const due = batches.filter(
      (b) => b.lastOffset > (checkpoints.get(checkpointKey(b.topic, b.partition)) ?? -1),
    );
    if (due.length === 0) return;

    const after = (b: ProjectionBatch) => checkpoints.get(checkpointKey(b.topic, b.partition)) ?? -1;
    const events = due.flatMap((b) => b.events.filter((e) => e.offset > after(b)));
    const failed = await work(tx, events, context);
    const poison = [...due.flatMap((b) => b.poison.filter((p) => p.offset > after(b))), ...failed];
    // Only the operator passes a record over; any other failure halts its partition.
    const halting = poison.find((p) => !p.operatorSkip);
    if (halting) throw poisonError(halting);
    for (const p of poison) {
      await tx.query(sql.typeAlias('void')`
        insert into projections.failures (projection, generation, topic, partition, "offset", event_type, error, record)
        values (${projection}, ${generation}, ${p.topic}, ${p.partition}, ${p.offset},
          ${eventTypeOf(p)}, ${p.error}, ${p.value ? sql.binary(p.value) : null})
        on conflict do nothing`);
    }
    await beforeCommit?.(tx, context);
    await tx.query(sql.typeAlias('void')`
      update projections.checkpoints c set "offset" = x.offset, updated_at = now()
      from unnest(${topicsOf(due)}, ${partitionsOf(due)}, ${offsetsOf(due)}) as x(topic, partition, "offset")
      where c.projection = ${projection} and c.generation = ${generation}
        and c.topic = x.topic and c.partition = x.partition`);
  });
}

/** The error that halts a record's partition (the consumer runtime names it in `/readyz`). */
export function poisonError(poison: PoisonRecord): RecordFailedError {
  return new RecordFailedError(poison.error, poison.offset, {
    topic: poison.topic,
    partition: poison.partition,
  });
}

function eventTypeOf(poison: PoisonRecord): string | null {
  return /^\[(\w+)\]/.exec(poison.error)?.[1] ?? null;
}

/**
 * Applies events in a savepoint; if that fails for a reason of the data (not a transient fault),
 * applies them one by one, each in its own savepoint, to name the first that fails: it halts
 * its partition (`RecordFailedError`). An event is never skipped.
 */
export async function applyIsolatingPoison(
  tx: Transaction,
  events: RecordedEvent[],
  apply: (tx: Transaction, events: RecordedEvent[]) => Promise<void>,
): Promise<PoisonRecord[]> {
  if (events.length === 0) return [];
  try {
    await tx.transaction((savepoint) => apply(savepoint, events));
    return [];
  } catch (error) {
    if (isTransientError(error) || error instanceof GenerationRetiredError) throw error;
  }
  const poison: PoisonRecord[] = [];
  for (const event of events) {
    try {
      await tx.transaction((savepoint) => apply(savepoint, [event]));
    } catch (error) {
      if (isTransientError(error)) throw error;
      throw poisonError({
        topic: event.topic,
        partition: event.partition,
        offset: event.offset,
        error: `[${event.event.type}] ${describeError(error)}`,
        value: null,
      });
    }
  }
  return poison;
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.name}: ${error.message}${cause}`;
}

/** A projection whose read model is PostgreSQL schemas, with its checkpoint in the same transaction. */
export function postgresProjection(options: PostgresProjectionOptions): Projection {
  const { pool, name, generation } = options;
  const handled = new Set<string>(options.canHandle);
  return {
    name,
    version: options.version,
    generation,
    canHandle: options.canHandle,
    checkpoints: () => readCheckpoints(pool, name, generation),
    async handle(batch) {
      await inCheckpointedTransaction(
        pool,
        name,
        generation,
        [batch],
        (tx, events, context) =>
          applyIsolatingPoison(
            tx,
            events.filter((e) => handled.has(e.event.type)),
            (savepoint, some) => options.apply(savepoint, some, context),
          ),
        async (tx, context) => {
          await options.beforeCommit?.(tx, context);
          faultPoint(`${name}.beforeCommit`);
        },
      );
    },
    async truncate() {
      const row = await pool.maybeOne(sql.type(generationRow)`
        select status from projections.generations where projection = ${name} and generation = ${generation}`);
      await options.dropStorage(pool, generation, row?.status === 'active');
      await pool.query(sql.typeAlias('void')`
        delete from projections.checkpoints where projection = ${name} and generation = ${generation}`);
      await pool.query(sql.typeAlias('void')`
        delete from projections.failures where projection = ${name} and generation = ${generation}`);
    },
    async close() {},
  };
}

const schemaRow = z.object({ nspname: z.string() });

/** Schemas whose names match `pattern` (anchored; its first group is the base name). */
export async function schemasMatching(db: DatabasePool | Transaction, pattern: RegExp): Promise<string[]> {
  const rows = await db.any(sql.type(schemaRow)`select nspname from pg_namespace order by nspname`);
  return rows.map((r) => r.nspname).filter((n) => pattern.test(n));
}

/**
 * The switch, inside its transaction: the active generation's schemas (plain names matching
 * `base`) become `<name>__g<from>`, and generation `to`'s `<name>__g<to>` take the plain names.
 * Readers resolve names per statement, so each sees either the old or the new read model.
 */
export async function renameSchemasForSwitch(
  tx: Transaction,
  base: RegExp,
  from: number | undefined,
  to: number,
): Promise<void> {
  const current = await schemasMatching(tx, new RegExp(`^(?:${base.source})$`));
  for (const schema of current) {
    const retiredName = `${schema}__g${from ?? 0}`;
    await tx.query(sql.typeAlias('void')`drop schema if exists ${sql.identifier([retiredName])} cascade`);
    await tx.query(
      sql.typeAlias(
        'void',
      )`alter schema ${sql.identifier([schema])} rename to ${sql.identifier([retiredName])}`,
    );
  }
  const suffix = `__g${to}`;
  for (const schema of await schemasMatching(tx, new RegExp(`^(?:${base.source})${suffix}$`))) {
    await tx.query(
      sql.typeAlias(
        'void',
      )`alter schema ${sql.identifier([schema])} rename to ${sql.identifier([schema.slice(0, -suffix.length)])}`,
    );
  }
}

/** Drops the schemas of one generation (`active`: the plain-named ones the read side reads). */
export async function dropGenerationSchemas(
  pool: DatabasePool,
  base: RegExp,
  generation: number,
  active = false,
): Promise<void> {
  const suffix = active ? '' : `__g${generation}`;
  for (const schema of await schemasMatching(pool, new RegExp(`^(?:${base.source})${suffix}$`))) {
    await pool.query(sql.typeAlias('void')`drop schema if exists ${sql.identifier([schema])} cascade`);
  }
}

/**
 * Serialises a tenant's erasure with batches that touch the tenant from other topics: an erasing
 * batch holds the tenant's lock exclusively, others share it, and each takes its locks up front
 * in one order. Without it, a batch of images running beside the tenant's erasure could read
 * "not erased" and write rows the erasure has just removed.
 */
export async function lockTenants(
  tx: Transaction,
  erasing: Iterable<string>,
  touching: Iterable<string>,
): Promise<void> {
  const exclusive = new Set(erasing);
  const all = [...new Set([...exclusive, ...touching])].sort();
  for (const tenantId of all) {
    const key = `deeplens.tenant:${tenantId}`;
    await tx.query(
      exclusive.has(tenantId)
        ? sql.typeAlias('void')`select from pg_advisory_xact_lock(hashtext(${key}))`
        : sql.typeAlias('void')`select from pg_advisory_xact_lock_shared(hashtext(${key}))`,
    );
  }
}

const erasedTenantRow = z.object({ tenant_id: z.string() });

/**
 * Takes the locks of the batch's tenants (`lockTenants`: an erasure exclusively) and answers
 * which of them this projection has already erased, from the `deleted_tenants` table in its
 * `schema`: their later events are ignored.
 */
export async function lockTenantsOfBatch(
  tx: Transaction,
  schema: string,
  events: readonly { type: string; data: { tenantId: string } }[],
): Promise<{ tenantIds: string[]; erased: Set<string> }> {
  const tenantIds = [...new Set(events.map((e) => e.data.tenantId))];
  await lockTenants(
    tx,
    events.filter((e) => e.type === 'TenantDeleted').map((e) => e.data.tenantId),
    tenantIds,
  );
  const rows = await tx.any(sql.type(erasedTenantRow)`
    select tenant_id from ${sql.identifier([schema, 'deleted_tenants'])}
    where tenant_id = any(${sql.array(tenantIds, 'text')})`);
  return { tenantIds, erased: new Set(rows.map((r) => r.tenant_id)) };
}
