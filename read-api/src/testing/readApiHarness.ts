import { mkdtemp } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { serve } from '@hono/node-server';
import { projectionMigrations } from '@deeplens/projections/projectionRuntime';
import type { Config } from '@deeplens/platform/config';
import { createLogger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { createReadApi } from '../readApi.ts';
import type { ReadApiDependencies } from '../readApiDependencies.ts';
import { createReadApiDependencies } from '../readApiRuntime.ts';

export type ReadApiHarness = { baseUrl: string; deps: ReadApiDependencies };

/**
 * The read API served over real HTTP on a free loopback port, beside a write API's database,
 * secrets (so its access tokens verify) and objects, with the projections' bookkeeping tables
 * (as the projectors create them) and its own vector folder; stopped when the test ends.
 */
export async function startReadApi(
  t: Pick<TestContext, 'after'>,
  writeConfig: Config,
  overrides: Partial<Config> = {},
): Promise<ReadApiHarness> {
  const config: Config = {
    ...writeConfig,
    VECTOR_INDEX_DIR: await mkdtemp(join(tmpdir(), 'deeplens-vectors-')),
    ...overrides,
  };
  await runMigrations(config.DATABASE_URL, 'projections', projectionMigrations);
  const deps = await createReadApiDependencies(config, createLogger({ test: 'read-api' }, 'error'));
  const server = serve({ fetch: createReadApi(deps).fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  t.after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await deps.vectors.close();
    await deps.pool.end();
  });
  return { baseUrl: `http://127.0.0.1:${port}`, deps };
}
