import type { MiddlewareHandler } from 'hono';
import type { DatabasePool } from '@deeplens/platform/database';
import { UnavailableError } from '@deeplens/platform/errors';
import { problemResponse, toProblem } from '@deeplens/platform/http/problem';
import { projectionsNotCaughtUp, type ProjectionReadiness } from '@deeplens/projections/projectionReadiness';

/**
 * The read API never serves a partial read model as if it were whole. While a projection
 * replays the log (at start, or healing a lost read model), `/readyz` answers 503 with what is
 * replaying and every `/v1` read answers 503 problem+json with `Retry-After`; a halted
 * projection (a record it cannot decode or apply) makes `/readyz` 503 with the topic,
 * partition and offset, while reads go on from the consistent model it holds up to there.
 * The state comes from `projections.readiness`, read at most once per `cacheMs`.
 */
export function projectionReadinessGuard(
  pool: DatabasePool,
  options: { cacheMs?: number; retryAfterSeconds?: number } = {},
): MiddlewareHandler {
  const cacheMs = options.cacheMs ?? 1000;
  const retryAfterSeconds = options.retryAfterSeconds ?? 5;
  let cached: { at: number; state: Promise<ProjectionReadiness[]> } | undefined;
  const state = () => {
    if (!cached || Date.now() - cached.at > cacheMs) {
      // A database that does not answer is the routes' to report, not this guard's.
      cached = { at: Date.now(), state: projectionsNotCaughtUp(pool).catch(() => []) };
    }
    return cached.state;
  };
  const describe = (p: ProjectionReadiness) =>
    p.state === 'halted'
      ? `${p.projection} halted at ${String(p.detail['topic'])}:${String(p.detail['partition'])}:${String(p.detail['offset'])} (${p.reason ?? ''})`
      : `${p.projection}: ${p.reason ?? 'replaying the log'}`;

  return async (c, next) => {
    const path = c.req.path;
    if (path !== '/readyz' && !path.startsWith('/v1/')) return next();
    const notCaughtUp = await state();
    if (path === '/readyz') {
      if (notCaughtUp.length === 0) return next();
      return c.json(
        {
          status: 'not ready',
          reasons: notCaughtUp.map((p) => ({
            projection: p.projection,
            state: p.state,
            reason: describe(p),
            ...p.detail,
          })),
        },
        503,
      );
    }
    const replaying = notCaughtUp.filter((p) => p.state === 'replaying');
    if (replaying.length === 0) return next();
    // Answered here rather than thrown: a rebuild is expected, not a server error to log per request.
    const error = new UnavailableError(
      `DeepLens is rebuilding its read model from the log (${replaying.map(describe).join('; ')}); answers would be partial, retry shortly`,
      { detail: { retryAfterSeconds, rebuilding: replaying.map((p) => p.projection) } },
    );
    return problemResponse(toProblem(error, path), { 'Retry-After': String(retryAfterSeconds) });
  };
}
