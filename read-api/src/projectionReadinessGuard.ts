import type { MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { UnavailableError } from '@deeplens/platform/errors';
import { problemResponse, toProblem } from '@deeplens/platform/http/problem';
import { loadProjectorEnv } from '@deeplens/projections/projectionRuntime';

/** Where one projection the read API depends on stands; `unreported` when it has no row yet. */
export type ProjectionStanding = {
  projection: string;
  state: 'replaying' | 'halted' | 'unreported';
  reason: string | null;
  detail: Record<string, unknown>;
};

const readinessRow = z.object({
  projection: z.string(),
  state: z.enum(['replaying', 'caught-up', 'halted']),
  reason: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});

/**
 * The projections that are not caught up: every row not `caught-up`, and every required
 * projection without a row (its projector has not reported since the read model was created —
 * a missing `projections.readiness` table means none has).
 */
export async function projectionsNotReady(
  pool: DatabasePool,
  required: readonly string[],
): Promise<ProjectionStanding[]> {
  const exists = await pool.oneFirst(
    sql.type(
      z.object({ exists: z.boolean() }),
    )`select to_regclass('projections.readiness') is not null as exists`,
  );
  if (!exists) {
    return required.map((projection) => ({
      projection,
      state: 'unreported',
      reason: 'no projector has reported yet (projections.readiness does not exist)',
      detail: {},
    }));
  }
  const rows = await pool.any(
    sql.type(
      readinessRow,
    )`select projection, state, reason, detail from projections.readiness order by projection`,
  );
  const reported = new Set(rows.map((r) => r.projection));
  const notReady: ProjectionStanding[] = rows.flatMap((r) =>
    r.state === 'caught-up' ? [] : [{ ...r, state: r.state }],
  );
  for (const projection of required) {
    if (!reported.has(projection)) {
      notReady.push({
        projection,
        state: 'unreported',
        reason: 'its projector has not reported yet',
        detail: {},
      });
    }
  }
  return notReady.sort((a, b) => a.projection.localeCompare(b.projection));
}

/**
 * The read API never serves a partial read model as if it were whole. Every projection it
 * depends on (`projections`, by default the configured `DEEPLENS_PROJECTIONS`) must have
 * recorded that it caught up with the log: while one replays (at start, or healing a lost read
 * model) or has not reported at all (no row, or no `projections.readiness` table — a database
 * just re-created), `/readyz` answers 503 with what is missing and every `/v1` read answers 503
 * problem+json with `Retry-After`. A halted projection (a record it cannot decode or apply)
 * makes `/readyz` 503 with the topic, partition and offset, while reads go on from the
 * consistent model it holds up to there. The state is read at most once per `cacheMs`.
 */
export function projectionReadinessGuard(
  pool: DatabasePool,
  options: { cacheMs?: number; retryAfterSeconds?: number; projections?: readonly string[] } = {},
): MiddlewareHandler {
  const cacheMs = options.cacheMs ?? 1000;
  const retryAfterSeconds = options.retryAfterSeconds ?? 5;
  const required = options.projections ?? loadProjectorEnv().DEEPLENS_PROJECTIONS;
  let cached: { at: number; state: Promise<ProjectionStanding[]> } | undefined;
  const state = () => {
    if (!cached || Date.now() - cached.at > cacheMs) {
      // A database that does not answer is the routes' to report, not this guard's.
      cached = { at: Date.now(), state: projectionsNotReady(pool, required).catch(() => []) };
    }
    return cached.state;
  };
  const describe = (p: ProjectionStanding) =>
    p.state === 'halted'
      ? `${p.projection} halted at ${String(p.detail['topic'])}:${String(p.detail['partition'])}:${String(p.detail['offset'])} (${p.reason ?? ''})`
      : `${p.projection}: ${p.reason ?? 'replaying the log'}`;

  return async (c, next) => {
    const path = c.req.path;
    if (path !== '/readyz' && !path.startsWith('/v1/')) return next();
    const notReady = await state();
    if (path === '/readyz') {
      if (notReady.length === 0) return next();
      return c.json(
        {
          status: 'not ready',
          reasons: notReady.map((p) => ({
            projection: p.projection,
            state: p.state,
            reason: describe(p),
            ...p.detail,
          })),
        },
        503,
      );
    }
    const incomplete = notReady.filter((p) => p.state !== 'halted');
    if (incomplete.length === 0) return next();
    // Answered here rather than thrown: a rebuild is expected, not a server error to log per request.
    const error = new UnavailableError(
      `DeepLens is rebuilding its read model from the log (${incomplete.map(describe).join('; ')}); answers would be partial, retry shortly`,
      { detail: { retryAfterSeconds, rebuilding: incomplete.map((p) => p.projection) } },
    );
    return problemResponse(toProblem(error, path), { 'Retry-After': String(retryAfterSeconds) });
  };
}
