import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createApiKeyResolver } from '@deeplens/commands/apiKeyLookup';
import { sql } from '@deeplens/platform/database';
import { PayloadTooLargeError } from '@deeplens/platform/errors';
import { authenticate } from '@deeplens/platform/http/authenticate';
import { notFoundHandler, problemErrorHandler } from '@deeplens/platform/http/problem';
import { defaultUploadLimits } from '@deeplens/platform/http/receiveUpload';
import { metricsResponse, observeRequests } from '@deeplens/platform/http/observeRequests';
import { requestId } from '@deeplens/platform/http/requestId';
import { readApiOpenApi } from './openApi.ts';
import type { ReadApiDependencies } from './readApiDependencies.ts';
import type { ReadApiEnv } from './readApiEnv.ts';
import { browseRoutes } from './routes/browseRoutes.ts';
import { duplicateRoutes } from './routes/duplicateRoutes.ts';
import { searchRoutes } from './routes/searchRoutes.ts';

/** The read API: similarity search and browsing over the projections. */
export function createReadApi(deps: ReadApiDependencies) {
  const { pool, log } = deps;
  const app = new Hono<ReadApiEnv>();
  app.onError(problemErrorHandler(log));
  app.notFound(notFoundHandler());
  app.use('*', observeRequests(log));
  app.use('*', requestId());
  // The largest body a read needs is one query image with its option fields.
  const maxBodyBytes = Math.min(deps.config.MAX_REQUEST_BYTES, defaultUploadLimits.maxFileBytes + 2 ** 20);
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new PayloadTooLargeError(`the request body is over ${maxBodyBytes} bytes`);
      },
    }),
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', () => metricsResponse());
  app.get('/readyz', async (c) => {
    await pool.query(sql.unsafe`select 1`);
    return c.json({ status: 'ready', vectorGeneration: deps.vectors.generation ?? null });
  });
  app.get('/openapi.json', (c) => c.json(readApiOpenApi));

  app.use(
    '/v1/*',
    authenticate({
      verifier: deps.verifier,
      clock: deps.clock,
      // Keys are checked against the write model, so a revoked key stops at once, not after a projection catches up.
      resolveApiKey: createApiKeyResolver(pool, deps.writeModel),
    }),
  );
  app.route('/', searchRoutes(deps));
  app.route('/', duplicateRoutes(deps));
  app.route('/', browseRoutes(deps));
  return app;
}
