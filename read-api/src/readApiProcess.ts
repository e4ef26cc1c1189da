/** Starts the read API process. */
import { serve } from '@hono/node-server';
import type { Config } from '@deeplens/platform/config';
import { apiServerOptions } from '@deeplens/platform/http/serverTimeouts';
import type { Logger } from '@deeplens/platform/logger';
import { createReadApi } from './readApi.ts';
import { createReadApiDependencies } from './readApiRuntime.ts';

export async function startReadApi(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const deps = await createReadApiDependencies(config, log);
  const app = createReadApi(deps);
  const server = serve(
    {
      fetch: app.fetch,
      hostname: config.READ_API_HOST,
      port: config.READ_API_PORT,
      serverOptions: apiServerOptions(config),
    },
    (info) => log.info('listening', { url: `http://${info.address}:${info.port}` }),
  );
  return {
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await deps.credentials?.close();
      await deps.vectors.close();
      await deps.metadata.close();
      await deps.pool.end();
    },
  };
}
