/**
 * The write API serves what its OpenAPI document (generated from the route contracts) declares,
 * and nothing else: the same operations, the 400s its documented request schemas give, and
 * answers (status and body) the document declares for that operation.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import {
  assertResponseDocumented,
  issuesOf,
  issueWording,
  operationsOf,
  routesOf,
  type RouteConfig,
} from '@deeplens/platform/http/openApiRegistry';
import { makePng } from '@deeplens/platform/testing/hostileImages';
import { writeApiContracts, writeApiOpenApi } from './openApi.ts';
import { imageContract } from './routes/imageRoutes.ts';
import { adminEmail, adminPassword, startWriteApi, type WriteApiHarness } from './testing/writeApiHarness.ts';
import { createWriteApi } from './writeApi.ts';

const operations = Object.values(writeApiContracts).flatMap((contract) => Object.values(contract));
const key = (method: string, openApiPath: string) => `${method.toUpperCase()} ${openApiPath}`;

/** The documented operation `method path` (a concrete path, e.g. `/v1/tenants/0b8f…`) is an instance of. */
function operationOf(method: string, path: string): RouteConfig {
  const found = operations.find(
    (route) =>
      route.method === method.toLowerCase() &&
      new RegExp(`^${route.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path),
  );
  assert.ok(found, `${method} ${path} is not documented`);
  return found;
}

/** The platform's one answer checker, on the operation `method path` is an instance of. */
const assertDocumented = (method: string, path: string, response: Response) =>
  assertResponseDocumented(operationOf(method, path), response);

describe('write API contract', () => {
  it('serves exactly the operations its document declares', async (t) => {
    const api = await startWriteApi(t);
    assert.deepEqual(routesOf(createWriteApi(api.deps)), operationsOf(writeApiOpenApi));
    // And /openapi.json serves that document.
    const response = await api.call('GET', '/openapi.json');
    assert.deepEqual(
      await assertDocumented('GET', '/openapi.json', response),
      JSON.parse(JSON.stringify(writeApiOpenApi)),
    );
  });

  it('refuses a JSON body exactly as the documented schema does', async (t) => {
    const api = await startWriteApi(t);
    const { admin, tenantId, owner } = await setUp(api, 'contract-bodies');
    const someId = '0b8f4c1e-5d6a-4f3b-9c2d-1e2f3a4b5c6d';
    const probe = { undeclared: true };
    let probed = 0;
    for (const route of operations) {
      const media = route.request?.body?.content['application/json'];
      const schema = (media && 'schema' in media ? media.schema : undefined) as z.ZodTypeAny | undefined;
      if (!schema) continue;
      // Worded as our 400s word zod's issues.
      const expected = schema.safeParse(probe, { error: issueWording });
      assert.ok(!expected.success, `${route.method} ${route.path} documents a body that takes anything`);
      const path = route.path.replace('{id}', tenantId).replace(/\{[^}]+\}/g, someId);
      // A tenant admin where one may call it (uploads and images are a tenant's), else the platform admin.
      const method = route.method.toUpperCase();
      let response = await api.call(method, path, { token: owner, json: probe });
      if (response.status === 403) response = await api.call(method, path, { token: admin, json: probe });
      assert.equal(response.status, 400, `${method} ${path}: ${await response.clone().text()}`);
      const problem = (await assertDocumented(method, path, response)) as { errors?: unknown };
      assert.deepEqual(
        problem.errors,
        issuesOf(expected.error),
        `${route.method} ${path} validates with its documented schema`,
      );
      probed += 1;
    }
    assert.ok(probed >= 12, `probed ${probed} bodies`);

    // An upload's text fields, by the documented form (its file parts aside).
    const form = imageContract.upload.request.body.content['multipart/form-data'].schema;
    const fields = new FormData();
    fields.append('file', new Blob([await makePng(8, 8)], { type: 'image/png' }), 'a.png');
    fields.append('undeclared', 'x');
    const refused = await api.call('POST', '/v1/images', { token: owner, body: fields });
    assert.equal(refused.status, 400, await refused.clone().text());
    const problem = (await assertDocumented('POST', '/v1/images', refused)) as { errors?: unknown };
    const expected = form.omit({ file: true }).safeParse({ undeclared: 'x' }, { error: issueWording });
    assert.ok(!expected.success);
    assert.deepEqual(problem.errors, issuesOf(expected.error));
  });

  it('answers every operation as the document declares', async (t) => {
    const api = await startWriteApi(t);
    const call = async (
      method: string,
      path: string,
      options: Parameters<WriteApiHarness['call']>[2] = {},
      status?: number,
    ) => {
      const response = await api.call(method, path, options);
      if (status !== undefined) assert.equal(response.status, status, await response.clone().text());
      return assertDocumented(method, path, response) as Promise<Record<string, never>>;
    };
    const seen = new Set<string>();
    const track = (method: string, path: string) => seen.add(key(method, operationOf(method, path).path));
    const checked = async (...args: Parameters<typeof call>) => {
      track(args[0], args[1]);
      return call(...args);
    };

    await checked('GET', '/healthz', {}, 200);
    await checked('GET', '/readyz', {}, 200);
    await checked('GET', '/metrics', {}, 404);
    await checked('GET', '/openapi.json', {}, 200);
    await checked('GET', '/.well-known/jwks.json', {}, 200);
    const signedIn = await checked(
      'POST',
      '/v1/auth/token',
      { json: { grant_type: 'password', email: adminEmail, password: adminPassword } },
      200,
    );
    await checked('POST', '/v1/auth/token', { json: { grant_type: 'api_key', api_key: 'dlk_x_y' } }, 401);
    const refreshed = await checked(
      'POST',
      '/v1/auth/refresh',
      { json: { refresh_token: String(signedIn.refresh_token) } },
      200,
    );
    // Signing out ends that session: the rest runs in another one.
    const admin = (await api.signIn(adminEmail, adminPassword)).access_token;
    await checked(
      'POST',
      '/v1/auth/logout',
      { json: { refresh_token: String(refreshed.refresh_token) } },
      204,
    );

    const tenant = await checked(
      'POST',
      '/v1/tenants',
      { token: admin, json: { slug: 'contract-answers', name: 'Contract' } },
      201,
    );
    const tenantId = String(tenant.id);
    await checked('GET', `/v1/tenants/${tenantId}`, { token: admin }, 200);
    await checked('GET', '/v1/tenants/not-a-uuid', { token: admin }, 400);
    await checked(
      'PATCH',
      `/v1/tenants/${tenantId}`,
      {
        token: admin,
        json: {
          plan: 'pro',
          limits: { maxImages: 10, maxBytes: 1e7, maxImageBytes: 1e6, requestsPerMinute: 600 },
        },
      },
      200,
    );
    await checked(
      'PUT',
      `/v1/tenants/${tenantId}/storage`,
      {
        token: admin,
        json: { endpoint: 'https://s3.example', bucket: 'abc', accessKeyId: 'a', secretAccessKey: 's' },
      },
      400,
    );
    await checked('GET', `/v1/tenants/${tenantId}/storage/move`, { token: admin }, 404);
    await checked(
      'POST',
      `/v1/tenants/${tenantId}/storage/move`,
      { token: admin, json: { kind: 'path', path: 'x' } },
      400,
    );

    const user = await checked(
      'POST',
      '/v1/users',
      {
        token: admin,
        json: { email: 'owner@contract.test', password: adminPassword, role: 'tenant_admin', tenantId },
      },
      201,
    );
    await checked('DELETE', `/v1/users/${tenantId}`, { token: admin }, 404);
    const owner = (await api.signIn('owner@contract.test', adminPassword)).access_token;
    assert.equal(user.tenantId, tenantId);

    const apiKey = await checked(
      'POST',
      `/v1/tenants/${tenantId}/api-keys`,
      { token: owner, json: { scopes: ['search', 'search'] } },
      201,
    );
    await checked('DELETE', `/v1/tenants/${tenantId}/api-keys/${String(apiKey.id)}`, { token: owner }, 204);

    const publicKey = generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const intakeKey = await checked(
      'POST',
      `/v1/tenants/${tenantId}/intake-keys`,
      { token: owner, json: { name: 'erp', publicKey } },
      201,
    );
    await checked(
      'DELETE',
      `/v1/tenants/${tenantId}/intake-keys/${String(intakeKey.id)}`,
      { token: owner },
      204,
    );

    const png = await makePng(24, 16);
    const oneFile = () => {
      const form = new FormData();
      form.append('file', new Blob([png], { type: 'image/png' }), 'a.png');
      return form;
    };
    await checked('POST', '/v1/uploads', { token: owner, body: oneFile() }, 201);
    // The installation's storage here is a folder, not S3.
    await checked(
      'POST',
      '/v1/uploads/presigned',
      { token: owner, json: { sha256: 'a'.repeat(64), mime: 'image/png', bytes: 10 } },
      409,
    );
    await checked('GET', '/v1/intake/some-request', { token: owner }, 200);

    const images = oneFile();
    images.append('tags', 'a,b');
    const accepted = await checked('POST', '/v1/images', { token: owner, body: images }, 202);
    const imageId = String((accepted.images as unknown as { id: string }[])[0]!.id);
    await checked('PATCH', `/v1/images/${imageId}`, { token: owner, json: { tags: ['c'] } }, 200);
    await checked('DELETE', `/v1/images/${imageId}`, { token: owner }, 202);

    await checked('DELETE', `/v1/tenants/${tenantId}`, { token: admin }, 202);

    const documented = operations.map((route) => key(route.method, route.path));
    assert.deepEqual(
      documented.filter((operation) => !seen.has(operation)),
      [],
      'every documented operation answered once',
    );
  });
});

async function setUp(api: WriteApiHarness, slug: string) {
  const admin = (await api.signIn(adminEmail, adminPassword)).access_token;
  const tenant = await api.call('POST', '/v1/tenants', { token: admin, json: { slug, name: slug } });
  assert.equal(tenant.status, 201, await tenant.clone().text());
  const tenantId = ((await tenant.json()) as { id: string }).id;
  const email = `owner@${slug}.test`;
  const user = await api.call('POST', '/v1/users', {
    token: admin,
    json: { email, password: adminPassword, role: 'tenant_admin', tenantId },
  });
  assert.equal(user.status, 201, await user.clone().text());
  return { admin, tenantId, owner: (await api.signIn(email, adminPassword)).access_token };
}
