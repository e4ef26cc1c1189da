import { mkdtemp } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { serve } from '@hono/node-server';
import { projectionDefinitions, projectionMigrations } from '@deeplens/projections/projectionRuntime';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool, sql } from '@deeplens/platform/database';
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
  // No projector runs beside this read API unless the test starts one (which then records its
  // own state): the read models are as whole as the log they were given, so each projection
  // reads as caught up to the read API's readiness guard until it says otherwise.
  const pool = await createDatabasePool(config);
  try {
    for (const projection of Object.keys(projectionDefinitions)) {
      await pool.query(sql.typeAlias('void')`
        insert into projections.readiness (projection, state) values (${projection}, 'caught-up')
        on conflict (projection) do nothing`);
    }
  } finally {
    await pool.end();
  }
  const deps = await createReadApiDependencies(config, createLogger({ test: 'read-api' }, 'error'));
  const server = serve({ fetch: createReadApi(deps).fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  t.after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await deps.credentials?.close();
    await deps.vectors.close();
    await deps.pool.end();
  });
  return { baseUrl: `http://127.0.0.1:${port}`, deps };
}
