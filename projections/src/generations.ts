import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import type { ProjectionDefinition } from './projection.ts';

/**
 * Generations of a projection (`projections.generations`): the `active` one is what the read
 * side reads and the live projector keeps current; a rebuild builds a `building` one from offset
 * 0 beside it and switches once it has caught up; the old one is then `retired` and dropped.
 * A point-in-time rebuild (`--until`) leaves its generation as a `snapshot` beside the active
 * one, as of its bound, until it is promoted (caught up with the log, then switched to) or
 * dropped.
 */

const generationRow = z.object({ generation: z.number() });

/** The generation the read side reads, if any. */
export async function activeGeneration(pool: DatabasePool, projection: string): Promise<number | undefined> {
  const row = await pool.maybeOne(sql.type(generationRow)`
    select generation from projections.generations where projection = ${projection} and status = 'active'`);
  return row?.generation;
}

/** The active generation, creating the first one (empty, active at once) if there is none. */
export async function ensureActiveGeneration(pool: DatabasePool, projection: string): Promise<number> {
  for (;;) {
    const active = await activeGeneration(pool, projection);
    if (active !== undefined) return active;
    try {
      await pool.query(sql.typeAlias('void')`
        insert into projections.generations (projection, generation, status, activated_at)
        select ${projection}, coalesce(max(generation), 0) + 1, 'active', now()
        from projections.generations where projection = ${projection}`);
    } catch (error) {
      // Another process created it (or the same number) at the same time: read again.
      if (!(error instanceof UniqueIntegrityConstraintViolationError)) throw error;
    }
  }
}

/** A new generation to build; refused while another rebuild of the projection is building. */
export async function startBuildingGeneration(pool: DatabasePool, projection: string): Promise<number> {
  try {
    return await pool.oneFirst(sql.type(generationRow)`
      insert into projections.generations (projection, generation, status)
      select ${projection}, coalesce(max(generation), 0) + 1, 'building'
      from projections.generations where projection = ${projection}
      returning generation`);
  } catch (error) {
    if (error instanceof UniqueIntegrityConstraintViolationError) {
      throw new Error(`a rebuild of ${projection} is already building a generation`, { cause: error });
    }
    throw error;
  }
}

/**
 * Makes `to` the active generation in ONE transaction: `from` is retired and the projection's
 * storage switched (schemas renamed). Batches of either generation hold their row FOR SHARE,
 * so the switch waits for those in flight; later batches of `from` see it retired and stop.
 */
export async function switchGeneration(
  pool: DatabasePool,
  definition: ProjectionDefinition,
  to: number,
): Promise<number | undefined> {
  return pool.transaction(async (tx) => {
    const rows = await tx.any(sql.type(z.object({ generation: z.number(), status: z.string() }))`
      select generation, status from projections.generations
      where projection = ${definition.name} and status in ('active', 'building')
      order by generation for update`);
    const target = rows.find((r) => r.generation === to);
    // A promoted snapshot is `building` again while it catches up (see `resumeSnapshot`).
    if (target?.status !== 'building') throw new Error(`${definition.name} generation ${to} is not building`);
    const from = rows.find((r) => r.status === 'active')?.generation;
    if (from !== undefined) {
      await tx.query(sql.typeAlias('void')`
        update projections.generations set status = 'retired', retired_at = now()
        where projection = ${definition.name} and generation = ${from}`);
    }
    await tx.query(sql.typeAlias('void')`
      update projections.generations set status = 'active', activated_at = now()
      where projection = ${definition.name} and generation = ${to}`);
    await definition.activate(tx, from, to);
    return from;
  });
}

/** Retires a generation that will never be switched to (a failed rebuild). */
export async function abandonGeneration(
  pool: DatabasePool,
  projection: string,
  generation: number,
): Promise<void> {
  await pool.query(sql.typeAlias('void')`
    update projections.generations set status = 'retired', retired_at = now()
    where projection = ${projection} and generation = ${generation} and status = 'building'`);
}

export async function markGenerationDropped(
  pool: DatabasePool,
  projection: string,
  generation: number,
): Promise<void> {
  await pool.query(sql.typeAlias('void')`
    update projections.generations set dropped_at = now() where projection = ${projection} and generation = ${generation}`);
  await pool.query(sql.typeAlias('void')`
    delete from projections.checkpoints where projection = ${projection} and generation = ${generation}`);
}

export type GenerationLock = { release(): Promise<void> };

/**
 * One writer per projection generation, across processes: a session advisory lock held on a
 * connection of its own for as long as the writer runs (a crashed process's lock goes with its
 * connection). Waits while another process holds it, unless `signal` aborts.
 */
export async function acquireGenerationLock(
  databaseUrl: string,
  projection: string,
  generation: number,
  options: { signal?: AbortSignal; retryMs?: number } = {},
): Promise<GenerationLock> {
  const key = `deeplens.projection:${projection}:${generation}`;
  for (;;) {
    options.signal?.throwIfAborted();
    const client = new pg.Client({ connectionString: databaseUrl });
    client.on('error', () => undefined);
    await client.connect();
    const { rows } = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock(hashtext($1)) as locked',
      [key],
    );
    if (rows[0]?.locked) {
      return { release: () => client.end().catch(() => undefined) };
    }
    await client.end();
    await sleep(options.retryMs ?? 250);
  }
}

/** The bound a snapshot generation was built to: its label and each partition's end (exclusive). */
export type GenerationBound = { label: string; ends: Record<string, number> };

/** A building generation that reached its bound becomes a `snapshot`, kept beside the active one. */
export async function markGenerationSnapshot(
  pool: DatabasePool,
  projection: string,
  generation: number,
  bound: GenerationBound,
): Promise<void> {
  const updated = await pool.query(sql.typeAlias('void')`
    update projections.generations set status = 'snapshot', until_bound = ${sql.jsonb(bound)}
    where projection = ${projection} and generation = ${generation} and status = 'building'`);
  if (updated.rowCount !== 1) throw new Error(`${projection} generation ${generation} is not building`);
}

const listedRow = z.object({
  projection: z.string(),
  generation: z.number(),
  status: z.string(),
  created_at: z.number(),
  until_bound: z.unknown().nullable(),
});

export type GenerationListing = {
  projection: string;
  generation: number;
  status: string;
  createdAt: number;
  until: GenerationBound | null;
};

/** The generations that hold a read model (active, building, snapshot), by projection. */
export async function listGenerations(pool: DatabasePool): Promise<GenerationListing[]> {
  const rows = await pool.any(sql.type(listedRow)`
    select projection, generation, status, created_at, until_bound from projections.generations
    where status in ('active', 'building', 'snapshot') and dropped_at is null
    order by projection, generation`);
  return rows.map((r) => ({
    projection: r.projection,
    generation: r.generation,
    status: r.status,
    createdAt: r.created_at,
    until: (r.until_bound as GenerationBound | null) ?? null,
  }));
}

/** A generation's status if it still holds a read model (not retired, not dropped). */
export async function generationStatus(
  pool: DatabasePool,
  projection: string,
  generation: number,
): Promise<'active' | 'building' | 'snapshot' | undefined> {
  const status = await pool.maybeOneFirst(sql.type(z.object({ status: z.string() }))`
    select status from projections.generations
    where projection = ${projection} and generation = ${generation} and dropped_at is null
      and status in ('active', 'building', 'snapshot')`);
  return (status ?? undefined) as 'active' | 'building' | 'snapshot' | undefined;
}

/**
 * Promotion starts: the snapshot is `building` again and catches up with the log from its
 * bound (a read model never serves the past as the present), then is switched to. Refused
 * while another rebuild of the projection is building.
 */
export async function resumeSnapshot(
  pool: DatabasePool,
  projection: string,
  generation: number,
): Promise<void> {
  try {
    const updated = await pool.query(sql.typeAlias('void')`
      update projections.generations set status = 'building'
      where projection = ${projection} and generation = ${generation} and status = 'snapshot' and dropped_at is null`);
    if (updated.rowCount !== 1) {
      throw new Error(`${projection} generation ${generation} is not a snapshot (see rebuildMain.ts list)`);
    }
  } catch (error) {
    if (error instanceof UniqueIntegrityConstraintViolationError) {
      throw new Error(`a rebuild of ${projection} is already building a generation`, { cause: error });
    }
    throw error;
  }
}

/** A snapshot to drop is retired first, so no reader selects it while its storage goes. */
export async function retireSnapshot(
  pool: DatabasePool,
  projection: string,
  generation: number,
): Promise<void> {
  const updated = await pool.query(sql.typeAlias('void')`
    update projections.generations set status = 'retired', retired_at = now()
    where projection = ${projection} and generation = ${generation} and status = 'snapshot' and dropped_at is null`);
  if (updated.rowCount !== 1) {
    throw new Error(`${projection} generation ${generation} is not a snapshot (see rebuildMain.ts list)`);
  }
}
