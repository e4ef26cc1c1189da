/**
 * The read API's validation, authentication and problem+json paths, through hono's in-memory
 * `app.request` (no server, no port). Authentication reads the write model, so the tenants and
 * users are made by the write API, also in memory, on a fresh database.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { loadConfig, type Config } from '@deeplens/platform/config';
import { createDatabasePool, sql } from '@deeplens/platform/database';
import { createLogger } from '@deeplens/platform/logger';
import { runMigrations } from '@deeplens/platform/migrations';
import { createTestDatabase } from '@deeplens/platform/testing/testDatabase';
import { assertAnswerDocumented, operationsOf, routesOf } from '@deeplens/platform/http/openApiRegistry';
import { projectionDefinitions, projectionMigrations } from '@deeplens/projections/projectionRuntime';
import { createWriteApi } from '@deeplens/write-api/writeApi';
import { createWriteApiDependencies, ensurePlatformAdmin } from '@deeplens/write-api/writeApiRuntime';
import { readApiContracts, readApiOpenApi } from './openApi.ts';
import { createReadApi } from './readApi.ts';
import { createReadApiDependencies } from './readApiRuntime.ts';

type Problem = {
  status: number;
  code: string;
  title: string;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
};

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

type App = { request(path: string, init?: RequestInit): Response | Promise<Response> };
type Parameter = {
  name: string;
  in: string;
  schema?: { minimum?: number; maximum?: number; enum?: unknown[] };
};

/** The routes that are no part of the contract: probes, metrics and the document itself. */
const undocumented = ['GET /healthz', 'GET /metrics', 'GET /openapi.json', 'GET /readyz'];
const call = (app: App, method: string, path: string, options: { token?: string; body?: string } = {}) =>
  app.request(path, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: options.body,
  });

describe('read API routes on app.request', () => {
  const cleanups: Array<() => unknown> = [];
  const suite = { after: (fn: () => unknown) => void cleanups.push(fn) } as Pick<TestContext, 'after'>;
  let read: ReturnType<typeof createReadApi>;
  let userA = '';
  let tenantA = '';
  let tenantB = '';

  before(async () => {
    const database = await createTestDatabase(suite);
    const config: Config = {
      ...loadConfig(),
      DATABASE_URL: database.url,
      SECRETS_DIR: await mkdtemp(join(tmpdir(), 'deeplens-secrets-')),
      OBJECT_STORE_DIR: await mkdtemp(join(tmpdir(), 'deeplens-objects-')),
      VECTOR_INDEX_DIR: await mkdtemp(join(tmpdir(), 'deeplens-vectors-')),
    };
    const log = createLogger({ test: 'read-api-routes' }, 'error');
    const writeDeps = await createWriteApiDependencies(config, log);
    suite.after(() => writeDeps.pool.end());
    await ensurePlatformAdmin(writeDeps, 'root@routes.test', password);
    const write = createWriteApi(writeDeps);
    const json = (body: unknown) => JSON.stringify(body);
    const signIn = async (email: string) => {
      const response = await call(write, 'POST', '/v1/auth/token', {
        body: json({ grant_type: 'password', email, password }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      return ((await response.json()) as { access_token: string }).access_token;
    };
    const admin = await signIn('root@routes.test');
    // Enterprise: the contract tests below send more requests than a free plan's 60 units a minute.
    const provision = async (slug: string, plan?: 'enterprise') => {
      const response = await call(write, 'POST', '/v1/tenants', {
        token: admin,
        body: json({ slug, name: slug, ...(plan ? { plan } : {}) }),
      });
      assert.equal(response.status, 201, await response.clone().text());
      return ((await response.json()) as { id: string }).id;
    };
    tenantA = await provision('read-routes-a', 'enterprise');
    tenantB = await provision('read-routes-b');
    const user = await call(write, 'POST', '/v1/users', {
      token: admin,
      body: json({ email: 'user@a.routes.test', password, role: 'tenant_user', tenantId: tenantA }),
    });
    assert.equal(user.status, 201, await user.clone().text());
    userA = await signIn('user@a.routes.test');

    // The read side's tables, every projection caught up (no projector runs here).
    await runMigrations(config.DATABASE_URL, 'projections', projectionMigrations);
    const pool = await createDatabasePool(config);
    try {
      for (const projection of Object.keys(projectionDefinitions)) {
        await pool.query(sql.unsafe`
          insert into projections.readiness (projection, state) values (${projection}, 'caught-up')
          on conflict (projection) do nothing`);
      }
    } finally {
      await pool.end();
    }
    const readDeps = await createReadApiDependencies(config, log);
    suite.after(async () => {
      await readDeps.credentials?.close();
      await readDeps.vectors.close();
      await readDeps.pool.end();
    });
    read = createReadApi(readDeps);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('answers 401 problem+json without credentials, with a forged token or an unknown API key', async () => {
    assert.equal((await problemOf(await call(read, 'GET', '/v1/images'), 401)).code, 'unauthenticated');
    await problemOf(await call(read, 'POST', '/v1/search', { body: '{"imageId":"x"}' }), 401);
    await problemOf(await call(read, 'GET', '/v1/images', { token: 'e30.eyJzdWIiOiJ4In0.c2ln' }), 401);
    await problemOf(
      await read.request('/v1/images', { headers: { 'x-api-key': 'dlk_nothing_nothing' } }),
      401,
    );
  });

  it('answers 400 with what was wrong for a malformed search or listing', async () => {
    const notJson = await problemOf(
      await call(read, 'POST', '/v1/search', { token: userA, body: '{"k":' }),
      400,
    );
    assert.match(notJson.detail, /not valid JSON/);

    const invalid = await problemOf(
      await call(read, 'POST', '/v1/search', {
        token: userA,
        body: JSON.stringify({ k: 0, imageId: 'nope' }),
      }),
      400,
    );
    assert.deepEqual((invalid.errors ?? []).map((e) => e.path).sort(), ['imageId', 'k']);

    const neither = await problemOf(
      await call(read, 'POST', '/v1/search', { token: userA, body: JSON.stringify({ k: 5 }) }),
      400,
    );
    assert.match(JSON.stringify(neither), /exactly one of imageId and vector/);

    const listing = await problemOf(
      await call(read, 'GET', '/v1/images?limit=0&status=lost', { token: userA }),
      400,
    );
    assert.deepEqual((listing.errors ?? []).map((e) => e.path).sort(), ['limit', 'status']);

    await problemOf(await call(read, 'GET', '/v1/images/not-a-uuid', { token: userA }), 400);
  });

  it('serves exactly the operations its generated document declares, and /openapi.json is that document', async () => {
    const served = routesOf(read).filter((route) => !undocumented.includes(route));
    assert.deepEqual(served, operationsOf(readApiOpenApi));
    assert.ok(served.length >= 9, served.join(', '));
    const document = await read.request('/openapi.json');
    assert.equal(document.status, 200);
    assert.deepEqual(await document.json(), JSON.parse(JSON.stringify(readApiOpenApi)));
  });

  it('validates each query by its documented parameters: an undeclared one, or one past a documented bound or enum, is a 400 naming it', async () => {
    const pathOf = (path: string) =>
      path.replace('{id}', path.startsWith('/v1/tenants/') ? tenantA : unknownId);
    let checked = 0;
    for (const [path, item] of Object.entries(readApiOpenApi.paths ?? {})) {
      for (const method of ['get', 'post'] as const) {
        const operation = item[method];
        if (!operation) continue;
        const ask = (query: string) =>
          call(read, method.toUpperCase(), `${pathOf(path)}?${query}`, { token: userA });
        const undeclared = await problemOf(await ask('undeclared=1'), 400);
        assert.match(JSON.stringify(undeclared), /undeclared/, `${method} ${path}`);
        for (const parameter of (operation.parameters ?? []) as Parameter[]) {
          if (parameter.in !== 'query' || !parameter.schema) continue;
          const { minimum, maximum, enum: options } = parameter.schema;
          const wrong = [
            ...(maximum === undefined ? [] : [String(maximum + 1)]),
            ...(minimum === undefined ? [] : [String(minimum - 1)]),
            ...(options ? ['not-one-of-them'] : []),
          ];
          for (const value of wrong) {
            const refused = await problemOf(await ask(`${parameter.name}=${value}`), 400);
            const paths = (refused.errors ?? []).map((e) => e.path);
            assert.deepEqual(paths, [parameter.name], `${method} ${path} ?${parameter.name}=${value}`);
            checked++;
          }
        }
      }
    }
    assert.ok(checked >= 10, `only ${checked} bounds checked`);
  });

  it('validates a JSON search by its documented body: an undeclared member, or one past a documented bound or enum, is a 400 naming it', async () => {
    type BodySchema = { properties: Record<string, Parameter['schema'] & { $ref?: string }> };
    const body = readApiOpenApi.paths?.['/v1/search']?.post?.requestBody;
    const schema = (body && 'content' in body ? body.content['application/json']?.schema : undefined) as
      BodySchema | undefined;
    assert.ok(schema?.properties, 'POST /v1/search documents a JSON body');
    const refusedFor = async (member: string, value: unknown, named = member) => {
      const answer = await call(read, 'POST', '/v1/search', {
        token: userA,
        body: JSON.stringify({ imageId: unknownId, [member]: value }),
      });
      const problem = await problemOf(answer, 400);
      assert.deepEqual(
        (problem.errors ?? []).map((e) => e.path),
        [named],
        `${member}=${JSON.stringify(value)}: ${JSON.stringify(problem)}`,
      );
      return problem;
    };
    // An unknown member is named in the message of the body's own (path '') error.
    assert.match(JSON.stringify(await refusedFor('undeclared', 1, '')), /undeclared/);
    let checked = 0;
    for (const [member, { minimum, maximum, enum: options } = {}] of Object.entries(schema.properties)) {
      for (const value of [
        ...(maximum === undefined ? [] : [maximum + 1]),
        ...(minimum === undefined ? [] : [minimum - 1]),
        ...(options ? ['not-one-of-them'] : []),
      ]) {
        await refusedFor(member, value);
        checked++;
      }
    }
    assert.ok(checked >= 5, `only ${checked} bounds checked`);
  });

  // (Usage needs the tenant in the read model, which no projector fills here; answers with images
  // in them are checked in routes/duplicateRoutes.int.test.ts, on real read models.)
  it('answers as its document says, with no member it does not declare', async () => {
    const { browse, duplicates } = readApiContracts;
    const answerOf = async (path: string) => {
      const response = await call(read, 'GET', path, { token: userA });
      assert.equal(response.status, 200, await response.clone().text());
      return response.json();
    };
    assertAnswerDocumented(browse.listImages, 200, await answerOf('/v1/images'));
    assertAnswerDocumented(duplicates.duplicates, 200, await answerOf('/v1/duplicates'));
  });

  it("hides another tenant's usage as 404, as if the tenant did not exist", async () => {
    const other = await problemOf(
      await call(read, 'GET', `/v1/tenants/${tenantB}/usage`, { token: userA }),
      404,
    );
    const none = await problemOf(
      await call(read, 'GET', `/v1/tenants/${unknownId}/usage`, { token: userA }),
      404,
    );
    assert.equal(other.code, none.code);
    assert.equal(other.detail.replace(tenantB, '<id>'), none.detail.replace(unknownId, '<id>'));
  });

  it('answers 404 problem+json for an image it does not know and an unknown route', async () => {
    assert.equal(
      (await problemOf(await call(read, 'GET', `/v1/images/${unknownId}`, { token: userA }), 404)).code,
      'not_found',
    );
    await problemOf(await call(read, 'GET', '/v2/nothing-here', { token: userA }), 404);
  });
});
