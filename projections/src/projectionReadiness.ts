import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';

export type ProjectionState = 'replaying' | 'caught-up' | 'halted';

/** Records where a projection stands (`projections.readiness`), for the read API's readiness. */
export async function setProjectionReadiness(
  pool: DatabasePool,
  projection: string,
  state: ProjectionState,
  reason: string | null,
  detail: Record<string, unknown> = {},
): Promise<void> {
  await pool.query(sql.typeAlias('void')`
    insert into projections.readiness (projection, state, reason, detail, updated_at)
    values (${projection}, ${state}, ${reason}, ${sql.jsonb(detail as never)}, now())
    on conflict (projection) do update
      set state = excluded.state, reason = excluded.reason, detail = excluded.detail, updated_at = now()`);
}

const readinessRow = z.object({
  projection: z.string(),
  state: z.enum(['replaying', 'caught-up', 'halted']),
  reason: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});

export type ProjectionReadiness = z.infer<typeof readinessRow>;

/**
 * The projections that are not caught up (replaying or halted); `[]` also when no projector
 * has recorded anything yet (the table does not exist).
 */
export async function projectionsNotCaughtUp(pool: DatabasePool): Promise<ProjectionReadiness[]> {
  const exists = await pool.oneFirst(
    sql.type(
      z.object({ exists: z.boolean() }),
    )`select to_regclass('projections.readiness') is not null as exists`,
  );
  if (!exists) return [];
  return [
    ...(await pool.any(sql.type(readinessRow)`
      select projection, state, reason, detail from projections.readiness
      where state <> 'caught-up' order by projection`)),
  ];
}
