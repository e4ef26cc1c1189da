import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createApiKeyResolver } from '@deeplens/commands/apiKeyLookup';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createRateLimiter } from '@deeplens/platform/auth/rateLimiter';
import { LimitExceededError, PayloadTooLargeError } from '@deeplens/platform/errors';
import { authenticate } from '@deeplens/platform/http/authenticate';
import { notFoundHandler, problemErrorHandler } from '@deeplens/platform/http/problem';
import { metricsResponse, observeRequests } from '@deeplens/platform/http/observeRequests';
import { requestId } from '@deeplens/platform/http/requestId';
import { sql } from '@deeplens/platform/database';
import { httpIdempotency } from './httpIdempotency.ts';
import { writeApiOpenApi } from './openApi.ts';
import { identityRoutes } from './routes/identityRoutes.ts';
import { imageRoutes } from './routes/imageRoutes.ts';
import { tenantRoutes } from './routes/tenantRoutes.ts';
import type { WriteApiDependencies } from './writeApiDependencies.ts';
import type { WriteApiEnv } from './writeApiEnv.ts';

/** The write API: every command of DeepLens over HTTP. Composed here; served by `main.ts`. */
export function createWriteApi(deps: WriteApiDependencies) {
  const { pool, handler, log, clock } = deps;
  const app = new Hono<WriteApiEnv>();
  app.onError(problemErrorHandler(log));
  app.notFound(notFoundHandler());
  app.use('*', observeRequests(log));

  app.use('*', requestId());
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.config.MAX_REQUEST_BYTES,
      onError: () => {
        throw new PayloadTooLargeError(`the request body is over ${deps.config.MAX_REQUEST_BYTES} bytes`);
      },
    }),
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', () => metricsResponse());
  app.get('/readyz', async (c) => {
    await pool.query(sql.unsafe`select 1`);
    return c.json({ status: 'ready' });
  });
  app.get('/openapi.json', (c) => c.json(writeApiOpenApi));

  const identity = identityRoutes(deps);
  app.route('/', identity.publicRoutes);

  app.use(
    '/v1/*',
    authenticate({
      verifier: deps.verifier,
      clock,
      resolveApiKey: createApiKeyResolver(pool, handler),
    }),
  );

  // Each tenant gets its plan's requests per minute, from one limiter with per-tenant limits.
  const tenantRequests = createRateLimiter({ limit: 60, windowSeconds: 60, clock });
  app.use('/v1/*', async (c, next) => {
    const { tenantId } = c.get('principal');
    if (tenantId) {
      const tenant = await handler.load(tenantDecider, tenantId);
      c.set('callerTenant', tenant);
      const perMinute = tenant.status === 'initial' ? 60 : tenant.limits.requestsPerMinute;
      const decision = tenantRequests.take(`tenant:${tenantId}`, { limit: perMinute });
      if (!decision.allowed) {
        throw new LimitExceededError(`the plan allows ${perMinute} requests per minute`, {
          detail: { retryAfterSeconds: decision.retryAfterSeconds },
        });
      }
    }
    await next();
  });
  app.use('/v1/*', httpIdempotency(pool, deps.secrets));

  app.route('/', identity.securedRoutes);
  app.route('/v1/tenants', tenantRoutes(deps));
  app.route('/v1/images', imageRoutes(deps));
  return app;
}
