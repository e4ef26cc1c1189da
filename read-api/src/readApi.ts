import { Hono } from 'hono';
import { createApiKeyResolver } from '@deeplens/commands/apiKeyLookup';
import { createCredentialStandingCheck } from '@deeplens/commands/identity/credentialStanding';
import { sql } from '@deeplens/platform/database';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { createSharedRateLimiter } from '@deeplens/platform/auth/sharedRateLimiter';
import { authenticate } from '@deeplens/platform/http/authenticate';
import { notFoundHandler, problemErrorHandler } from '@deeplens/platform/http/problem';
import { defaultUploadLimits } from '@deeplens/platform/http/receiveUpload';
import { metricsResponse, observeRequests } from '@deeplens/platform/http/observeRequests';
import { rateLimit } from '@deeplens/platform/http/rateLimit';
import { jsonBodyBytes, limitBody } from '@deeplens/platform/http/requestBody';
import { responseHeaders } from '@deeplens/platform/http/responseHeaders';
import { requestId } from '@deeplens/platform/http/requestId';
import { generationSelection } from './generationSelection.ts';
import { readApiOpenApi } from './openApi.ts';
import { rememberVerifiedTokens } from '@deeplens/platform/auth/rememberedTokens';
import { projectionReadinessGuard } from './projectionReadinessGuard.ts';
import type { ReadApiDependencies } from './readApiDependencies.ts';
import type { ReadApiEnv } from './readApiEnv.ts';
import { browseRoutes } from './routes/browseRoutes.ts';
import { duplicateRoutes } from './routes/duplicateRoutes.ts';
import { historyRoutes } from './routes/historyRoutes.ts';
import { searchRoutes } from './routes/searchRoutes.ts';

/** The read API: similarity search and browsing over the projections. */
export function createReadApi(deps: ReadApiDependencies) {
  const { pool, log } = deps;
  const app = new Hono<ReadApiEnv>();
  app.onError(problemErrorHandler(log));
  app.notFound(notFoundHandler());
  app.use('*', observeRequests(log));
  app.use('*', responseHeaders());
  app.use('*', requestId());
  // The largest body a read needs is one query image with its option fields; a JSON query is small.
  const maxBodyBytes = Math.min(deps.config.MAX_REQUEST_BYTES, defaultUploadLimits.maxFileBytes + 2 ** 20);
  app.use('*', limitBody(Math.min(jsonBodyBytes, maxBodyBytes), maxBodyBytes));
  app.use('*', projectionReadinessGuard(pool));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', (c) => metricsResponse(c, deps.config.METRICS_TOKEN));
  app.get('/readyz', async (c) => {
    await pool.query(sql.typeAlias('void')`select`);
    return c.json({
      status: 'ready',
      vectorGeneration: deps.vectors.generation ?? null,
      embeddingSpaceMove: (await deps.embeddingSpaces?.status()) ?? null,
    });
  });
  app.get('/openapi.json', (c) => c.json(readApiOpenApi));

  // What authentication and the plan's limit read per request, remembered until the write model
  // announces a change (a revocation empties it at once; see `createCredentialCache`).
  const credentials = deps.credentials;
  const cached = <T>(key: string, load: () => Promise<T>) =>
    credentials ? credentials.get(key, load) : load();
  const resolveApiKey = createApiKeyResolver(pool, deps.writeModel);
  app.use(
    '/v1/*',
    authenticate({
      // A client's token is checked once, not per request; `checkStanding` still runs each time.
      verifier: rememberVerifiedTokens(deps.verifier, { clock: deps.clock }),
      clock: deps.clock,
      // Keys are checked against the write model, so a revoked key stops at once, not after a projection catches up.
      resolveApiKey: (prefix) => cached(`apiKey:${prefix}`, () => resolveApiKey(prefix)),
      // Tokens already issued stop with their tenant, user, key or session, within standingTtlMs.
      checkStanding: createCredentialStandingCheck(pool, {
        clock: deps.clock,
        ...(credentials ? { cache: credentials } : {}),
      }),
    }),
  );
  // Each tenant gets its plan's request units per minute on this API too, across its processes;
  // a search by upload runs the model here, and a duplicate scan reads the whole index.
  const tenantRequests = createSharedRateLimiter(pool, { limit: 60, windowSeconds: 60, clock: deps.clock });
  app.use(
    '/v1/*',
    rateLimit<ReadApiEnv>({
      limiter: tenantRequests,
      windowSeconds: 60,
      keyOf: async (c) => {
        const { tenantId } = c.get('principal');
        if (!tenantId) return undefined;
        const tenant = await cached(`tenant:${tenantId}`, () =>
          deps.writeModel.load(tenantDecider, tenantId),
        );
        const perMinute = tenant.status === 'initial' ? 60 : tenant.limits.requestsPerMinute;
        return {
          key: `read:tenant:${tenantId}`,
          limit: perMinute,
          cost: readCostOf(c.req.method, c.req.path, c.req.header('content-type')),
        };
      },
    }),
  );
  // A platform admin may read a point-in-time snapshot generation (DeepLens-Generation).
  app.use('/v1/*', generationSelection(pool));
  // During a move to another embedding space, each tenant searches the space its images are complete in.
  if (deps.embeddingSpaces) app.use('/v1/*', deps.embeddingSpaces.middleware);
  app.route('/', searchRoutes(deps));
  app.route('/', duplicateRoutes(deps));
  app.route('/', browseRoutes(deps));
  app.route('/', historyRoutes(deps));
  return app;
}

/** What a read costs against the plan's requests per minute: the dear ones weigh more. */
export function readCostOf(method: string, path: string, contentType: string | undefined): number {
  if (method === 'POST' && path === '/v1/search') {
    return /^multipart\//i.test(contentType ?? '') ? readCosts.searchByUpload : readCosts.search;
  }
  if (path === '/v1/duplicates') return readCosts.duplicates;
  if (/^\/v1\/images\/[^/]+\/similar$/.test(path)) return readCosts.search;
  return 1;
}

export const readCosts = { search: 2, searchByUpload: 10, duplicates: 10 } as const;
