/** Composition root of the write API process. */
import { serve } from '@hono/node-server';
import { loadConfig } from '@deeplens/platform/config';
import { createLogger } from '@deeplens/platform/logger';
import { runUntilSignalled } from '@deeplens/platform/processLifecycle';
import { createWriteApi } from './writeApi.ts';
import { createWriteApiDependencies, ensurePlatformAdmin } from './writeApiRuntime.ts';

const config = loadConfig();
const log = createLogger({ process: 'write-api' }, config.LOG_LEVEL);

await runUntilSignalled(log, async () => {
  const deps = await createWriteApiDependencies(config, log);
  if (config.BOOTSTRAP_ADMIN_EMAIL && config.BOOTSTRAP_ADMIN_PASSWORD) {
    const outcome = await ensurePlatformAdmin(
      deps,
      config.BOOTSTRAP_ADMIN_EMAIL,
      config.BOOTSTRAP_ADMIN_PASSWORD,
    );
    log.info('platform admin', { email: config.BOOTSTRAP_ADMIN_EMAIL, outcome });
  }
  const app = createWriteApi(deps);
  const server = serve(
    { fetch: app.fetch, hostname: config.WRITE_API_HOST, port: config.WRITE_API_PORT },
    (info) => log.info('listening', { url: `http://${info.address}:${info.port}` }),
  );
  return {
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await deps.pool.end();
    },
  };
});
