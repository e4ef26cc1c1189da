import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { createTokenIssuer } from '@deeplens/platform/auth/accessTokens';
import { generateSigningKey, loadOrCreateSigningKey } from '@deeplens/platform/auth/signingKey';
import { loadConfig } from '@deeplens/platform/config';
import { startDeepLens, type RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { readApiHostileRequests, runHostileRequests } from '@deeplens/platform/testing/hostileRequests';

const photosDir = join(import.meta.dirname, '..', '..', 'embedder', 'fixtures', 'photos');
const password = 'a long enough password';

type Call = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<Response>;

function client(base: string, authorization?: string): Call {
  return (method, path, body, headers = {}) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        ...(authorization ? { authorization } : {}),
        ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
    });
}

async function json<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  assert.equal(response.status, status, `${response.url}: ${text}`);
  return JSON.parse(text) as T;
}

type Problem = Record<string, unknown> & { status: number; code: string };

/** The problem+json of a refusal, checked for its shape, status and code. */
async function problem(response: Response, status: number, code?: string): Promise<Problem> {
  const text = await response.text();
  assert.equal(response.status, status, `${response.url}: ${text}`);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = JSON.parse(text) as Problem;
  for (const member of ['type', 'title', 'code']) assert.equal(typeof body[member], 'string', member);
  assert.equal(body.status, status);
  if (code) assert.equal(body.code, code);
  return body;
}

/** A problem with the ids it names replaced and its request id dropped: what may differ by design. */
function shapeOf(body: Problem, ids: string[]): unknown {
  const { requestId: _requestId, ...rest } = body;
  let text = JSON.stringify(rest);
  for (const id of ids) text = text.replaceAll(id, '<id>');
  return JSON.parse(text);
}

/**
 * Another tenant's existing id and an id nobody has must be answered alike: same status,
 * same code, same body once the id itself is blanked out.
 */
async function assertIndistinguishable(
  name: string,
  send: (id: string) => Promise<Response>,
  othersId: string,
  status = 404,
) {
  const missing = randomUUID();
  const theirs = await problem(await send(othersId), status, 'not_found');
  const nobodys = await problem(await send(missing), status, 'not_found');
  assert.deepEqual(shapeOf(theirs, [othersId]), shapeOf(nobodys, [missing]), name);
}

type Tenant = {
  id: string;
  admin: { write: Call; read: Call; token: string };
  user: { write: Call; read: Call; token: string };
  imageIds: string[];
};

describe('attacks on both APIs: tokens, tenant isolation, keys, sessions, brute force, roles', () => {
  let deeplens: RunningDeepLens;
  let adminToken: string;
  let alpha: Tenant;
  let bravo: Tenant;
  let signIns = 0;

  /** Each set-up sign-in comes from its own address, so it spends none of the attempts tested below. */
  async function signIn(
    email: string,
    secret: string,
  ): Promise<{ access_token: string; refresh_token: string }> {
    return json(
      await client(deeplens.writeUrl)(
        'POST',
        '/v1/auth/token',
        { grant_type: 'password', email, password: secret },
        { 'x-forwarded-for': `198.51.100.${++signIns}` },
      ),
      200,
    );
  }

  async function tenant(slug: string, photos: Buffer[]): Promise<Tenant> {
    const admin = client(deeplens.writeUrl, `Bearer ${adminToken}`);
    const { id } = await json<{ id: string }>(await admin('POST', '/v1/tenants', { slug, name: slug }), 201);
    const people = {} as Pick<Tenant, 'admin' | 'user'>;
    for (const role of ['admin', 'user'] as const) {
      const email = `${role}@${slug}.test`;
      await json(
        await admin('POST', '/v1/users', { email, password, role: `tenant_${role}`, tenantId: id }),
        201,
      );
      const token = (await signIn(email, password)).access_token;
      people[role] = {
        token,
        write: client(deeplens.writeUrl, `Bearer ${token}`),
        read: client(deeplens.readUrl, `Bearer ${token}`),
      };
    }
    const imageIds: string[] = [];
    for (const [index, bytes] of photos.entries()) {
      const form = new FormData();
      form.append('file', new Blob([bytes], { type: 'image/jpeg' }), `${slug}-${index}.jpg`);
      form.append('tags', slug);
      const body = await json<{ images: { id: string }[] }>(
        await people.user.write('POST', '/v1/images', form),
        202,
      );
      imageIds.push(body.images[0]!.id);
    }
    return { id, ...people, imageIds };
  }

  async function waitUntilIndexed(read: Call, ids: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const id of ids) {
      for (;;) {
        const response = await read('GET', `/v1/images/${id}`);
        const text = await response.text();
        if (response.status === 200 && (JSON.parse(text) as { status: string }).status === 'indexed') break;
        if (Date.now() > deadline) throw new Error(`image ${id} not indexed in time: ${text}`);
        await sleep(250);
      }
    }
  }

  it('two tenants with indexed photos, attacked every way a caller can', async (t) => {
    deeplens = await startDeepLens(t);
    adminToken = (await signIn(deeplens.admin.email, deeplens.admin.password)).access_token;
    const names = (await readdir(photosDir)).filter((f) => f.endsWith('.jpg')).sort();
    const photos = await Promise.all(names.slice(0, 6).map((name) => readFile(join(photosDir, name))));
    alpha = await tenant('alpha', photos.slice(0, 3));
    bravo = await tenant('bravo', photos.slice(3, 6));
    await waitUntilIndexed(alpha.user.read, alpha.imageIds, 60_000);
    await waitUntilIndexed(bravo.user.read, bravo.imageIds, 60_000);

    await t.test(
      'refuses forged, tampered, expired, alg:none, HS256 and wrong-issuer/audience tokens on both APIs (401)',
      async () => {
        const config = loadConfig();
        const subject = {
          actor: `user:${randomUUID()}` as const,
          tenantId: alpha.id,
          role: 'tenant_admin' as const,
          scopes: ['tenant:admin', 'images:read', 'images:write', 'search'],
        };
        const realKey = await loadOrCreateSigningKey(
          join(deeplens.env.SECRETS_DIR!, 'access-token-signing.pem'),
        );
        const issue = (options: {
          key?: ReturnType<typeof generateSigningKey>;
          issuer?: string;
          audience?: string;
          clock?: () => number;
        }) =>
          createTokenIssuer({
            privateKey: options.key ?? realKey,
            issuer: options.issuer ?? config.JWT_ISSUER,
            audience: options.audience ?? config.JWT_AUDIENCE,
            ttlSeconds: 60,
            ...(options.clock ? { clock: options.clock } : {}),
          })
            .issue(subject)
            .then((t) => t.accessToken);
        const claims = {
          actor: subject.actor,
          tenant_id: alpha.id,
          role: subject.role,
          scope: subject.scopes.join(' '),
          sub: subject.actor.slice('user:'.length),
          iss: config.JWT_ISSUER,
          aud: config.JWT_AUDIENCE,
          jti: randomUUID(),
          iat: Math.floor(Date.now() / 1000),
          exp: Math.floor(Date.now() / 1000) + 600,
        };
        const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
        // Bravo's own valid token with alpha's tenant written into it: the signature no longer fits.
        const [header, payload, signature] = bravo.admin.token.split('.') as [string, string, string];
        const tampered = `${header}.${b64({ ...(JSON.parse(Buffer.from(payload, 'base64url').toString()) as object), tenant_id: alpha.id })}.${signature}`;
        const tokens: [string, string][] = [
          ['signed with another key', await issue({ key: generateSigningKey() })],
          ['tampered payload (tenant switched)', tampered],
          ['expired an hour ago', await issue({ clock: () => Date.now() - 3_600_000 })],
          ['from another issuer', await issue({ issuer: 'https://evil.test' })],
          ['for another audience', await issue({ audience: 'some-other-api' })],
          ['alg: none', `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims)}.`],
          [
            'HS256 with a guessed secret',
            await new SignJWT(claims)
              .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
              .sign(new TextEncoder().encode('deeplens-secret-deeplens-secret-32')),
          ],
          [
            'HS256 keyed with the public key (algorithm confusion)',
            await new SignJWT(claims)
              .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
              .sign(
                new TextEncoder().encode(
                  JSON.stringify(
                    (
                      await json<{ keys: unknown[] }>(
                        await fetch(`${deeplens.writeUrl}/.well-known/jwks.json`),
                        200,
                      )
                    ).keys[0],
                  ),
                ),
              ),
          ],
          ['garbage', 'eyJhbGciOiJFZERTQSJ9.e30.AAAA'],
        ];
        const imageId = alpha.imageIds[0]!;
        for (const [name, token] of tokens) {
          const write = client(deeplens.writeUrl, `Bearer ${token}`);
          const read = client(deeplens.readUrl, `Bearer ${token}`);
          for (const [api, response] of [
            ['write', await write('PATCH', `/v1/images/${imageId}`, { tags: ['owned'] })],
            ['write', await write('POST', `/v1/tenants/${alpha.id}/api-keys`, { scopes: ['search'] })],
            ['read', await read('GET', `/v1/images/${imageId}`)],
            ['read', await read('POST', '/v1/search', { imageId })],
          ] as const) {
            await problem(response, 401, 'unauthenticated');
            assert.match(
              response.headers.get('www-authenticate') ?? '',
              /Bearer/,
              `${api} API, ${name}: a challenge`,
            );
          }
        }
        const image = await json<{ tags: string[] }>(
          await alpha.user.read('GET', `/v1/images/${imageId}`),
          200,
        );
        assert.deepEqual(image.tags, ['alpha'], 'no forged request changed anything');
      },
    );

    await t.test(
      "answers another tenant's ids exactly like ids nobody has: 404, same code, same body",
      async () => {
        const theirImage = alpha.imageIds[0]!;
        const { read, write } = bravo.admin;
        const routes: [string, (id: string) => Promise<Response>][] = [
          ['read: GET image', (id) => read('GET', `/v1/images/${id}`)],
          ['read: GET thumbnail', (id) => read('GET', `/v1/images/${id}/thumbnail`)],
          ['read: GET content', (id) => read('GET', `/v1/images/${id}/content`)],
          ['read: GET similar', (id) => read('GET', `/v1/images/${id}/similar?k=3`)],
          ['read: search by imageId', (id) => read('POST', '/v1/search', { imageId: id, k: 3 })],
          ['write: PATCH image', (id) => write('PATCH', `/v1/images/${id}`, { tags: ['mine now'] })],
          ['write: DELETE image', (id) => write('DELETE', `/v1/images/${id}`)],
        ];
        for (const [name, send] of routes) await assertIndistinguishable(name, send, theirImage);

        const someKeyId = randomUUID();
        const tenantRoutes: [string, (id: string) => Promise<Response>][] = [
          ['read: usage', (id) => read('GET', `/v1/tenants/${id}/usage`)],
          [
            'write: create an API key',
            (id) => write('POST', `/v1/tenants/${id}/api-keys`, { scopes: ['search'] }),
          ],
          ['write: revoke an API key', (id) => write('DELETE', `/v1/tenants/${id}/api-keys/${someKeyId}`)],
        ];
        for (const [name, send] of tenantRoutes) await assertIndistinguishable(name, send, alpha.id);

        // Alpha's key id under bravo's own tenant: the key is not bravo's, so it is not there.
        const alphaKey = await json<{ id: string; secret: string }>(
          await alpha.admin.write('POST', `/v1/tenants/${alpha.id}/api-keys`, {
            name: 'alpha',
            scopes: ['images:read'],
          }),
          201,
        );
        await assertIndistinguishable(
          "write: revoke another tenant's key under one's own tenant",
          (id) => write('DELETE', `/v1/tenants/${bravo.id}/api-keys/${id}`),
          alphaKey.id,
        );
        // An API key is held to its tenant the same way.
        const alphaByKey = client(deeplens.readUrl, `ApiKey ${alphaKey.secret}`);
        await assertIndistinguishable(
          'read with a key: GET image',
          (id) => alphaByKey('GET', `/v1/images/${id}`),
          bravo.imageIds[0]!,
        );

        // Nothing of alpha's moved: its images, tags and key are as they were.
        for (const id of alpha.imageIds) {
          const image = await json<{ tags: string[] }>(await alpha.user.read('GET', `/v1/images/${id}`), 200);
          assert.deepEqual(image.tags, ['alpha']);
        }
        await json(await alphaByKey('GET', `/v1/images/${alpha.imageIds[0]}`), 200);
        // And bravo's searches and listings hold only bravo's images.
        const listed = await json<{ items: { id: string }[] }>(await read('GET', '/v1/images?limit=50'), 200);
        assert.deepEqual(listed.items.map((i) => i.id).sort(), [...bravo.imageIds].sort());
        const hits = await json<{ hits: { imageId: string }[] }>(
          await read('POST', '/v1/search', { imageId: bravo.imageIds[0], k: 10 }),
          200,
        );
        for (const hit of hits.hits)
          assert.ok(bravo.imageIds.includes(hit.imageId), `${hit.imageId} is bravo's`);
      },
    );

    await t.test('refuses a revoked API key on both APIs, and when exchanged for a token', async () => {
      const key = await json<{ id: string; secret: string }>(
        await alpha.admin.write('POST', `/v1/tenants/${alpha.id}/api-keys`, {
          name: 'soon revoked',
          scopes: ['images:read', 'images:write', 'search'],
        }),
        201,
      );
      const imageId = alpha.imageIds[1]!;
      const byKey = (base: string) => client(base, undefined);
      const withKey = { 'x-api-key': key.secret };
      await json(await byKey(deeplens.readUrl)('GET', `/v1/images/${imageId}`, undefined, withKey), 200);
      await json(
        await byKey(deeplens.writeUrl)('PATCH', `/v1/images/${imageId}`, { tags: ['alpha'] }, withKey),
        200,
      );

      assert.equal(
        (await alpha.admin.write('DELETE', `/v1/tenants/${alpha.id}/api-keys/${key.id}`)).status,
        204,
      );
      await problem(
        await byKey(deeplens.readUrl)('GET', `/v1/images/${imageId}`, undefined, withKey),
        401,
        'unauthenticated',
      );
      await problem(
        await byKey(deeplens.readUrl)(
          'POST',
          '/v1/search',
          { imageId },
          { authorization: `Bearer ${key.secret}` },
        ),
        401,
        'unauthenticated',
      );
      await problem(
        await byKey(deeplens.writeUrl)('PATCH', `/v1/images/${imageId}`, { tags: ['revoked'] }, withKey),
        401,
        'unauthenticated',
      );
      await problem(
        await byKey(deeplens.writeUrl)(
          'POST',
          '/v1/auth/token',
          { grant_type: 'api_key', api_key: key.secret },
          { 'x-forwarded-for': '198.51.100.200' },
        ),
        401,
        'unauthenticated',
      );
    });

    await t.test('revokes the whole session when a refresh token is used twice', async () => {
      const first = await signIn('user@alpha.test', password);
      const anon = client(deeplens.writeUrl);
      const second = await json<{ refresh_token: string }>(
        await anon('POST', '/v1/auth/refresh', { refresh_token: first.refresh_token }),
        200,
      );
      // The thief replays the old token: refused, and the family is revoked.
      await problem(
        await anon('POST', '/v1/auth/refresh', { refresh_token: first.refresh_token }),
        401,
        'unauthenticated',
      );
      // So the legitimate holder's newest token is dead too.
      await problem(
        await anon('POST', '/v1/auth/refresh', { refresh_token: second.refresh_token }),
        401,
        'unauthenticated',
      );
      // A session of its own is untouched.
      const other = await signIn('user@alpha.test', password);
      await json(await anon('POST', '/v1/auth/refresh', { refresh_token: other.refresh_token }), 200);
    });

    await t.test(
      'slows down password guessing on /v1/auth/token: 429 with Retry-After, per account and per address',
      async () => {
        const anon = client(deeplens.writeUrl);
        const attempts = loadConfig().SIGN_IN_ATTEMPTS_PER_MINUTE;
        // One account, guessed from many addresses: the account's own budget runs out.
        const statuses: number[] = [];
        let retryAfter: string | null = null;
        for (let i = 0; i <= attempts; i++) {
          const response = await anon(
            'POST',
            '/v1/auth/token',
            { grant_type: 'password', email: 'admin@bravo.test', password: `guess number ${i}!` },
            { 'x-forwarded-for': `203.0.113.${i + 1}` },
          );
          statuses.push(response.status);
          if (response.status === 429) {
            retryAfter = response.headers.get('retry-after');
            await problem(response, 429, 'limit_exceeded');
          }
        }
        assert.deepEqual(statuses, [...Array<number>(attempts).fill(401), 429]);
        assert.ok(Number(retryAfter) > 0, `Retry-After: ${retryAfter}`);
        // Even the right password waits now.
        await problem(
          await anon(
            'POST',
            '/v1/auth/token',
            { grant_type: 'password', email: 'admin@bravo.test', password },
            { 'x-forwarded-for': '203.0.113.250' },
          ),
          429,
          'limit_exceeded',
        );
        // Many accounts from one address: the address's budget runs out.
        const spray: number[] = [];
        for (let i = 0; i <= attempts; i++) {
          const response = await anon(
            'POST',
            '/v1/auth/token',
            { grant_type: 'password', email: `nobody${i}@alpha.test`, password: 'Summer2024!!' },
            { 'x-forwarded-for': '192.0.2.99' },
          );
          spray.push(response.status);
          if (response.status === 429) assert.ok(Number(response.headers.get('retry-after')) > 0);
        }
        assert.deepEqual(spray, [...Array<number>(attempts).fill(401), 429]);
      },
    );

    await t.test('keeps tenant users and API keys out of admin work', async () => {
      const { user, admin } = alpha;
      const key = await json<{ secret: string }>(
        await admin.write('POST', `/v1/tenants/${alpha.id}/api-keys`, {
          scopes: ['images:read', 'images:write', 'search'],
        }),
        201,
      );
      const byKey = client(deeplens.writeUrl, `ApiKey ${key.secret}`);
      const readOnly = await json<{ secret: string }>(
        await admin.write('POST', `/v1/tenants/${alpha.id}/api-keys`, { scopes: ['images:read'] }),
        201,
      );
      const byReadOnlyKey = client(deeplens.writeUrl, `ApiKey ${readOnly.secret}`);
      const newUser = (role: string, tenantId: string | null) => ({
        email: `${randomUUID()}@alpha.test`,
        password,
        role,
        tenantId,
      });
      const refusals: [string, Promise<Response>, number][] = [
        [
          'tenant user provisions a tenant',
          user.write('POST', '/v1/tenants', { slug: 'mine', name: 'Mine' }),
          403,
        ],
        [
          'tenant admin provisions a tenant',
          admin.write('POST', '/v1/tenants', { slug: 'mine', name: 'Mine' }),
          403,
        ],
        ['API key provisions a tenant', byKey('POST', '/v1/tenants', { slug: 'mine', name: 'Mine' }), 403],
        ['tenant admin reads its tenant record', admin.write('GET', `/v1/tenants/${alpha.id}`), 403],
        [
          'tenant admin upgrades its own plan',
          admin.write('PATCH', `/v1/tenants/${alpha.id}`, { plan: 'enterprise' }),
          403,
        ],
        ['tenant admin erases its tenant', admin.write('DELETE', `/v1/tenants/${alpha.id}`), 403],
        [
          'tenant admin points its tenant at other storage',
          admin.write('PUT', `/v1/tenants/${alpha.id}/storage`, {
            endpoint: 'https://evil.test',
            bucket: 'stolen',
            accessKeyId: 'a',
            secretAccessKey: 'b',
          }),
          403,
        ],
        [
          'tenant user creates a user',
          user.write('POST', '/v1/users', newUser('tenant_user', alpha.id)),
          403,
        ],
        [
          'tenant user creates a platform admin',
          user.write('POST', '/v1/users', newUser('platform_admin', null)),
          403,
        ],
        [
          'tenant admin creates a platform admin',
          admin.write('POST', '/v1/users', newUser('platform_admin', null)),
          403,
        ],
        [
          'tenant admin creates a user in another tenant',
          admin.write('POST', '/v1/users', newUser('tenant_admin', bravo.id)),
          403,
        ],
        ['API key creates a user', byKey('POST', '/v1/users', newUser('tenant_admin', alpha.id)), 403],
        [
          'tenant user creates an API key',
          user.write('POST', `/v1/tenants/${alpha.id}/api-keys`, { scopes: ['search'] }),
          403,
        ],
        [
          'API key creates an API key',
          byKey('POST', `/v1/tenants/${alpha.id}/api-keys`, { scopes: ['search'] }),
          403,
        ],
        [
          'tenant admin creates a key for another tenant',
          admin.write('POST', `/v1/tenants/${bravo.id}/api-keys`, { scopes: ['search'] }),
          404,
        ],
        [
          'tenant user revokes a key',
          user.write('DELETE', `/v1/tenants/${alpha.id}/api-keys/${randomUUID()}`),
          403,
        ],
        [
          'read-only key uploads',
          byReadOnlyKey('PATCH', `/v1/images/${alpha.imageIds[0]}`, { tags: ['x'] }),
          403,
        ],
      ];
      for (const [name, pending, status] of refusals) {
        const body = await problem(await pending, status);
        assert.equal(body.code, status === 403 ? 'forbidden' : 'not_found', name);
      }
    });

    await t.test(
      'refuses bad query and path parameters against real read models (400/404, never 500)',
      async () => {
        const rows = (
          await readApiHostileRequests({
            tenantId: bravo.id,
            imageId: bravo.imageIds[0]!,
            missingId: randomUUID(),
          })
        ).filter(
          (row) =>
            row.category === 'query parameter' ||
            row.category === 'path parameter' ||
            row.category === 'wrong type',
        );
        const run = await runHostileRequests(deeplens.readUrl, rows, (as) =>
          as === 'tenant' ? `Bearer ${bravo.user.token}` : undefined,
        );
        assert.deepEqual(run.failures, []);
      },
    );
  });
});
