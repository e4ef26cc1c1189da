/** Starts the write API process. */
import { serve } from '@hono/node-server';
import { createCredentialCache } from '@deeplens/platform/auth/credentialCache';
import type { Config } from '@deeplens/platform/config';
import { apiServerOptions } from '@deeplens/platform/http/serverTimeouts';
import type { Logger } from '@deeplens/platform/logger';
import { storageMoveCopierOf } from './storageMoveCopier.ts';
import { createWriteApi } from './writeApi.ts';
import { createWriteApiDependencies, ensurePlatformAdmin } from './writeApiRuntime.ts';

export async function startWriteApi(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const base = await createWriteApiDependencies(config, log);
  const deps = {
    ...base,
    credentials: createCredentialCache({
      databaseUrl: config.DATABASE_URL,
      pool: base.pool,
      onError: (error) =>
        log.warn('credential change signal interrupted; authenticating uncached', { error }),
    }),
  };
  if (config.BOOTSTRAP_ADMIN_EMAIL && config.BOOTSTRAP_ADMIN_PASSWORD) {
    const outcome = await ensurePlatformAdmin(
      deps,
      config.BOOTSTRAP_ADMIN_EMAIL,
      config.BOOTSTRAP_ADMIN_PASSWORD,
    );
    log.info('platform admin', { email: config.BOOTSTRAP_ADMIN_EMAIL, outcome });
  }
  const storageMoves = storageMoveCopierOf(deps);
  const app = createWriteApi(deps, storageMoves);
  // Moves a crash or a restart interrupted go on from their recorded cursor.
  storageMoves.resumeAll().catch((error: unknown) => log.error('resuming storage moves failed', { error }));
  const server = serve(
    {
      fetch: app.fetch,
      hostname: config.WRITE_API_HOST,
      port: config.WRITE_API_PORT,
      serverOptions: apiServerOptions(config),
    },
    (info) => log.info('listening', { url: `http://${info.address}:${info.port}` }),
  );
  return {
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await storageMoves.stop();
      await deps.credentials.close();
      await deps.pool.end();
    },
  };
}
