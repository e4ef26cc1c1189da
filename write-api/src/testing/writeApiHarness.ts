import { mkdtemp } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { serve } from '@hono/node-server';
import { createCredentialCache } from '@deeplens/platform/auth/credentialCache';
import { loadConfig, type Config } from '@deeplens/platform/config';
import { createLogger } from '@deeplens/platform/logger';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { createWriteApi } from '../writeApi.ts';
import { createWriteApiDependencies, ensurePlatformAdmin } from '../writeApiRuntime.ts';
import type { WriteApiDependencies } from '../writeApiDependencies.ts';

export const adminEmail = 'root@deeplens.test';
export const adminPassword = 'correct horse battery staple';

export type WriteApiHarness = {
  baseUrl: string;
  deps: WriteApiDependencies;
  config: Config;
  /** fetch against the running API, JSON bodies encoded for you. */
  call(
    method: string,
    path: string,
    options?: {
      token?: string;
      json?: unknown;
      body?: string | FormData | Buffer;
      headers?: Record<string, string>;
    },
  ): Promise<Response>;
  signIn(email: string, password: string): Promise<{ access_token: string; refresh_token: string }>;
};

/**
 * The write API served over real HTTP on a free loopback port, on a fresh database, with its
 * own secrets and object folder, and a platform admin; all torn down when the test ends.
 */
export async function startWriteApi(
  t: Pick<TestContext, 'after'>,
  overrides: Partial<Config> = {},
): Promise<WriteApiHarness> {
  const database = await createTestDatabase(t);
  const config: Config = {
    ...loadConfig(),
    DATABASE_URL: database.url,
    SECRETS_DIR: await mkdtemp(join(tmpdir(), 'deeplens-secrets-')),
    OBJECT_STORE_DIR: await mkdtemp(join(tmpdir(), 'deeplens-objects-')),
    ...overrides,
  };
  const base = await createWriteApiDependencies(config, createLogger({ test: 'write-api' }, 'error'));
  // As the write API process runs it (`writeApiProcess.ts`).
  const deps: WriteApiDependencies = {
    ...base,
    credentials: createCredentialCache({ databaseUrl: config.DATABASE_URL, pool: base.pool }),
  };
  await ensurePlatformAdmin(deps, adminEmail, adminPassword);
  const app = createWriteApi(deps);
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  t.after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await deps.credentials?.close();
    await deps.pool.end();
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const call: WriteApiHarness['call'] = (method, path, options = {}) =>
    fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      body: options.json !== undefined ? JSON.stringify(options.json) : options.body,
    });
  return {
    baseUrl,
    deps,
    config,
    call,
    async signIn(email, password) {
      const response = await call('POST', '/v1/auth/token', {
        json: { grant_type: 'password', email, password },
      });
      if (response.status !== 200)
        throw new Error(`sign-in failed: ${response.status} ${await response.text()}`);
      return (await response.json()) as { access_token: string; refresh_token: string };
    },
  };
}
