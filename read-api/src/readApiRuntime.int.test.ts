/**
 * The read API applies the migrations of the plain state it spends from (platform/'s request
 * limits) itself when it starts: it serves rate-limited requests on a database whose
 * `auth.rate_limit_buckets` no write API ever made.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { loadConfig, type Config } from '@deeplens/platform/config';
import { createDatabasePool, sql } from '@deeplens/platform/database';
import { createLogger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { projectionDefinitions, projectionMigrations } from '@deeplens/projections/projectionRuntime';
import { createWriteApi } from '@deeplens/write-api/writeApi';
import { createWriteApiDependencies, ensurePlatformAdmin } from '@deeplens/write-api/writeApiRuntime';
import { createReadApi } from './readApi.ts';
import { createReadApiDependencies } from './readApiRuntime.ts';

const password = 'correct horse battery staple';

describe('read API start-up', () => {
  it('migrates the rate-limit buckets itself and limits a tenant with them', async (t) => {
    const database = await createTestDatabase(t);
    const config: Config = {
      ...loadConfig(),
      DATABASE_URL: database.url,
      SECRETS_DIR: await mkdtemp(join(tmpdir(), 'deeplens-secrets-')),
      OBJECT_STORE_DIR: await mkdtemp(join(tmpdir(), 'deeplens-objects-')),
      VECTOR_INDEX_DIR: await mkdtemp(join(tmpdir(), 'deeplens-vectors-')),
    };
    const log = createLogger({ test: 'read-api-runtime' }, 'error');

    // A tenant on the free plan (60 request units a minute) and its user, made by the write API.
    const writeDeps = await createWriteApiDependencies(config, log);
    t.after(() => writeDeps.pool.end());
    await ensurePlatformAdmin(writeDeps, 'root@runtime.test', password);
    const write = createWriteApi(writeDeps);
    const post = async (path: string, body: unknown, token?: string) =>
      write.request(path, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
    const signIn = async (email: string) => {
      const response = await post('/v1/auth/token', { grant_type: 'password', email, password });
      assert.equal(response.status, 200, await response.clone().text());
      return ((await response.json()) as { access_token: string }).access_token;
    };
    const admin = await signIn('root@runtime.test');
    const tenant = await post('/v1/tenants', { slug: 'runtime-free', name: 'runtime-free' }, admin);
    assert.equal(tenant.status, 201, await tenant.clone().text());
    const tenantId = ((await tenant.json()) as { id: string }).id;
    const user = await post(
      '/v1/users',
      { email: 'user@runtime.test', password, role: 'tenant_user', tenantId },
      admin,
    );
    assert.equal(user.status, 201, await user.clone().text());
    const token = await signIn('user@runtime.test');

    // The request-limit tables as if no write API had ever made them; the read models caught up.
    await runMigrations(config.DATABASE_URL, 'projections', projectionMigrations);
    await writeDeps.pool.query(sql.unsafe`drop table auth.rate_limit_buckets, auth.sign_in_throttle`);
    await writeDeps.pool.query(sql.unsafe`delete from public.schema_migrations where component = 'platform'`);
    for (const projection of Object.keys(projectionDefinitions)) {
      await writeDeps.pool.query(sql.unsafe`
        insert into projections.readiness (projection, state) values (${projection}, 'caught-up')
        on conflict (projection) do nothing`);
    }

    const readDeps = await createReadApiDependencies(config, log);
    t.after(async () => {
      await readDeps.credentials?.close();
      await readDeps.vectors.close();
      await readDeps.pool.end();
    });
    const read = createReadApi(readDeps);
    let allowed = 0;
    let refused: Response | undefined;
    while (refused === undefined && allowed <= 120) {
      const response = await read.request('/v1/images', { headers: { authorization: `Bearer ${token}` } });
      if (response.status === 429) refused = response;
      else {
        assert.equal(response.status, 200, await response.text());
        allowed++;
      }
    }
    assert.ok(refused, `no 429 after ${allowed} requests`);
    assert.ok(allowed >= 30, `refused after ${allowed} of the plan's 60 units`);
    assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);

    const pool = await createDatabasePool(config);
    t.after(() => pool.end());
    const bucket = await pool.maybeOne(
      sql.type(
        z.object({ key: z.string() }),
      )`select key from auth.rate_limit_buckets where key = ${`read:tenant:${tenantId}`}`,
    );
    assert.equal(bucket?.key, `read:tenant:${tenantId}`);
  });
});
