import { Hono } from 'hono';
import { createApiKeyResolver } from '@deeplens/commands/apiKeyLookup';
import { createCredentialStandingCheck } from '@deeplens/commands/identity/credentialStanding';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createSharedRateLimiter } from '@deeplens/platform/auth/sharedRateLimiter';
import { rememberVerifiedTokens } from '@deeplens/platform/auth/rememberedTokens';
import { authenticate } from '@deeplens/platform/http/authenticate';
import { notFoundHandler, problemErrorHandler } from '@deeplens/platform/http/problem';
import { metricsResponse, observeRequests } from '@deeplens/platform/http/observeRequests';
import { rateLimit } from '@deeplens/platform/http/rateLimit';
import { jsonBodyBytes, limitBody, unauthenticatedBodyBytes } from '@deeplens/platform/http/requestBody';
import { responseHeaders } from '@deeplens/platform/http/responseHeaders';
import { requestId } from '@deeplens/platform/http/requestId';
import { sql } from '@deeplens/platform/database';
import { httpIdempotency } from './httpIdempotency.ts';
import { writeApiOpenApi } from './openApi.ts';
import { identityRoutes } from './routes/identityRoutes.ts';
import { imageRoutes } from './routes/imageRoutes.ts';
import { intakeRoutes } from './routes/intakeRoutes.ts';
import { storageMoveRoutes } from './routes/storageMoveRoutes.ts';
import { tenantRoutes } from './routes/tenantRoutes.ts';
import { userErasureRoutes } from './routes/userErasureRoutes.ts';
import { storageMoveCopierOf, type StorageMoveCopier } from './storageMoveCopier.ts';
import type { WriteApiDependencies } from './writeApiDependencies.ts';
import type { WriteApiEnv } from './writeApiEnv.ts';

/**
 * The write API: every command of DeepLens over HTTP. Composed here; served by `main.ts`.
 * `storageMoves` copies tenants' objects in the background when their storage moves.
 */
export function createWriteApi(
  deps: WriteApiDependencies,
  storageMoves: StorageMoveCopier = storageMoveCopierOf(deps),
) {
  const { pool, handler, log, clock } = deps;
  const app = new Hono<WriteApiEnv>();
  app.onError(problemErrorHandler(log));
  app.notFound(notFoundHandler());
  app.use('*', observeRequests(log));
  app.use('*', responseHeaders());

  app.use('*', requestId());
  // Before anything parses a body: small on the routes anyone may call, uploads aside elsewhere.
  app.use('/v1/auth/*', limitBody(unauthenticatedBodyBytes));
  app.use(
    '*',
    limitBody(Math.min(jsonBodyBytes, deps.config.MAX_REQUEST_BYTES), deps.config.MAX_REQUEST_BYTES),
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', (c) => metricsResponse(c, deps.config.METRICS_TOKEN));
  app.get('/readyz', async (c) => {
    await pool.query(sql.typeAlias('void')`select`);
    return c.json({ status: 'ready' });
  });
  app.get('/openapi.json', (c) => c.json(writeApiOpenApi));

  // A change of tenants, users, keys or sessions this process commits is honoured by its very
  // next request: the command path tells the cache before the command returns, not when the
  // notification comes back (other processes follow within the cache's bound).
  if (deps.credentials) handler.credentialChanges.onChange(deps.credentials.forget);

  const identity = identityRoutes(deps);
  app.route('/', identity.publicRoutes);

  // What authentication and the plan's limit read per request, remembered until the write model
  // announces a change (a revocation empties it at once; see `createCredentialCache`).
  const credentials = deps.credentials;
  const cached = <T>(key: string, load: () => Promise<T>) =>
    credentials ? credentials.get(key, load) : load();
  const resolveApiKey = createApiKeyResolver(pool, handler);
  app.use(
    '/v1/*',
    authenticate({
      // A client's token is checked once, not per request (as on the read API); its standing is
      // still checked each time by `checkStanding`, so revocation is unchanged.
      verifier: rememberVerifiedTokens(deps.verifier, { clock }),
      clock,
      resolveApiKey: (prefix) => cached(`apiKey:${prefix}`, () => resolveApiKey(prefix)),
      checkStanding: createCredentialStandingCheck(pool, {
        clock,
        ...(credentials ? { cache: credentials } : {}),
      }),
    }),
  );

  // Each tenant gets its plan's requests per minute on this API, counted across its processes.
  const tenantRequests = createSharedRateLimiter(pool, { limit: 60, windowSeconds: 60, clock });
  app.use(
    '/v1/*',
    rateLimit<WriteApiEnv>({
      limiter: tenantRequests,
      windowSeconds: 60,
      keyOf: async (c) => {
        const { tenantId } = c.get('principal');
        if (!tenantId) return undefined;
        const tenant = await cached(`tenant:${tenantId}`, () => handler.load(tenantDecider, tenantId));
        c.set('callerTenant', tenant);
        const perMinute = tenant.status === 'initial' ? 60 : tenant.limits.requestsPerMinute;
        return { key: `write:tenant:${tenantId}`, limit: perMinute };
      },
    }),
  );
  app.use('/v1/*', httpIdempotency(handler, deps.secrets));

  app.route('/', identity.securedRoutes);
  app.route('/', userErasureRoutes(deps));
  app.route('/', intakeRoutes(deps));
  // Before the tenant routes, whose platform-admin check would otherwise stop a tenant admin.
  app.route('/v1/tenants', storageMoveRoutes(deps, storageMoves));
  app.route('/v1/tenants', tenantRoutes(deps));
  app.route('/v1/images', imageRoutes(deps));
  return app;
}
