/**
 * The write API's validation, authentication and problem+json paths, through hono's in-memory
 * `app.request` (no server, no port) on a fresh database (authentication reads the write model).
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { loadConfig, type Config } from '@deeplens/platform/config';
import { createLogger } from '@deeplens/platform/logger';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { createWriteApi } from './writeApi.ts';
import { createWriteApiDependencies, ensurePlatformAdmin } from './writeApiRuntime.ts';

type Problem = {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
};

const adminEmail = 'root@routes.test';
const password = 'correct horse battery staple';
const unknownId = '0b8f4c1e-5d6a-4f3b-9c2d-1e2f3a4b5c6d';

async function problemOf(response: Response, status: number): Promise<Problem> {
  assert.equal(response.status, status, await response.clone().text());
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const problem = (await response.json()) as Problem;
  assert.equal(problem.status, status);
  assert.equal(typeof problem.code, 'string');
  assert.equal(typeof problem.title, 'string');
  return problem;
}

describe('write API routes on app.request', () => {
  const cleanups: Array<() => unknown> = [];
  const suite = { after: (fn: () => unknown) => void cleanups.push(fn) } as Pick<TestContext, 'after'>;
  let app: ReturnType<typeof createWriteApi>;
  let adminToken = '';
  let tenantA = '';
  let tenantB = '';
  let tenantAdminA = '';

  const call = (
    method: string,
    path: string,
    options: { token?: string; json?: unknown; body?: string } = {},
  ) =>
    app.request(path, {
      method,
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.json !== undefined || options.body !== undefined
          ? { 'content-type': 'application/json' }
          : {}),
      },
      body: options.json !== undefined ? JSON.stringify(options.json) : options.body,
    });
  const signIn = async (email: string) => {
    const response = await call('POST', '/v1/auth/token', {
      json: { grant_type: 'password', email, password },
    });
    assert.equal(response.status, 200, await response.clone().text());
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const provision = async (slug: string) => {
    const response = await call('POST', '/v1/tenants', { token: adminToken, json: { slug, name: slug } });
    assert.equal(response.status, 201, await response.clone().text());
    return ((await response.json()) as { id: string }).id;
  };

  before(async () => {
    const database = await createTestDatabase(suite);
    const config: Config = {
      ...loadConfig(),
      DATABASE_URL: database.url,
      SECRETS_DIR: await mkdtemp(join(tmpdir(), 'deeplens-secrets-')),
      OBJECT_STORE_DIR: await mkdtemp(join(tmpdir(), 'deeplens-objects-')),
    };
    const deps = await createWriteApiDependencies(
      config,
      createLogger({ test: 'write-api-routes' }, 'error'),
    );
    suite.after(() => deps.pool.end());
    await ensurePlatformAdmin(deps, adminEmail, password);
    app = createWriteApi(deps);
    adminToken = await signIn(adminEmail);
    tenantA = await provision('routes-a');
    tenantB = await provision('routes-b');
    const user = await call('POST', '/v1/users', {
      token: adminToken,
      json: { email: 'admin@a.routes.test', password, role: 'tenant_admin', tenantId: tenantA },
    });
    assert.equal(user.status, 201, await user.clone().text());
    tenantAdminA = await signIn('admin@a.routes.test');
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('answers 401 problem+json without credentials, or with a token it did not sign', async () => {
    const none = await problemOf(await call('GET', `/v1/tenants/${tenantA}`), 401);
    assert.equal(none.code, 'unauthenticated');
    const forged = await problemOf(
      await call('GET', `/v1/tenants/${tenantA}`, { token: 'e30.eyJzdWIiOiJ4In0.c2ln' }),
      401,
    );
    assert.equal(forged.code, 'unauthenticated');
    const apiKey = await problemOf(
      await app.request('/v1/images', { method: 'POST', headers: { 'x-api-key': 'dlk_nothing_nothing' } }),
      401,
    );
    assert.equal(apiKey.code, 'unauthenticated');
  });

  it('answers 401 to a wrong password, without saying which part was wrong', async () => {
    const response = await call('POST', '/v1/auth/token', {
      json: { grant_type: 'password', email: adminEmail, password: 'not the password at all' },
    });
    const problem = await problemOf(response, 401);
    assert.doesNotMatch(problem.detail, /password|e-mail|email/i);
  });

  it('answers 400 with what was wrong for a malformed body', async () => {
    const notJson = await problemOf(
      await call('POST', '/v1/tenants', { token: adminToken, body: '{"slug":' }),
      400,
    );
    assert.match(notJson.detail, /not valid JSON/);

    const invalid = await problemOf(
      await call('POST', '/v1/tenants', { token: adminToken, json: { slug: 'Not A Slug', plan: 'gold' } }),
      400,
    );
    assert.equal(invalid.code, 'validation_failed');
    const paths = (invalid.errors ?? []).map((e) => e.path).sort();
    assert.deepEqual(paths, ['name', 'plan', 'slug']);

    const extra = await problemOf(
      await call('POST', '/v1/users', {
        token: adminToken,
        json: { email: 'x@routes.test', password, role: 'tenant_user', tenantId: tenantA, admin: true },
      }),
      400,
    );
    assert.ok(JSON.stringify(extra).includes('admin'), JSON.stringify(extra));

    const badId = await problemOf(await call('GET', '/v1/tenants/not-a-uuid', { token: adminToken }), 400);
    assert.match(badId.detail, /id/);
  });

  it('answers 415 problem+json to a body that is not JSON', async () => {
    const response = await app.request('/v1/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'text/plain' },
      body: 'slug=x',
    });
    await problemOf(response, 415);
  });

  it('hides another tenant from a tenant admin (404, as if it did not exist) and refuses its users and platform routes (403)', async () => {
    const keys = await problemOf(
      await call('POST', `/v1/tenants/${tenantB}/api-keys`, {
        token: tenantAdminA,
        json: { name: 'k', scopes: ['search'] },
      }),
      404,
    );
    const none = await problemOf(
      await call('POST', `/v1/tenants/${unknownId}/api-keys`, {
        token: tenantAdminA,
        json: { name: 'k', scopes: ['search'] },
      }),
      404,
    );
    assert.equal(keys.code, none.code);
    assert.equal(keys.detail.replace(tenantB, '<id>'), none.detail.replace(unknownId, '<id>'));
    await problemOf(
      await call('POST', '/v1/users', {
        token: tenantAdminA,
        json: { email: 'intruder@routes.test', password, role: 'tenant_user', tenantId: tenantB },
      }),
      403,
    );
    assert.equal(
      (await problemOf(await call('GET', `/v1/tenants/${tenantA}`, { token: tenantAdminA }), 403)).code,
      'forbidden',
    );
    // Its own tenant's keys it may issue.
    const own = await call('POST', `/v1/tenants/${tenantA}/api-keys`, {
      token: tenantAdminA,
      json: { name: 'k', scopes: ['search'] },
    });
    assert.equal(own.status, 201, await own.text());
  });

  it('answers 404 problem+json for an unknown tenant and an unknown route', async () => {
    const tenant = await problemOf(await call('GET', `/v1/tenants/${unknownId}`, { token: adminToken }), 404);
    assert.equal(tenant.code, 'not_found');
    await problemOf(await call('GET', '/v2/nothing-here', { token: adminToken }), 404);
  });
});
