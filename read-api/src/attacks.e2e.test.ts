import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { standingTtlMs } from '@deeplens/commands/identity/credentialStanding';
import { createTokenIssuer } from '@deeplens/platform/auth/accessTokens';
import { generateSigningKey, loadOrCreateSigningKey } from '@deeplens/platform/auth/signingKey';
import { loadConfig } from '@deeplens/platform/config';
import { startDeepLens, type RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { freePort } from '@deeplens/platform/testing/freePort';
import { makeJpeg, makePng, makeZip } from '@deeplens/platform/testing/hostileImages';
import { readApiHostileRequests, runHostileRequests } from '@deeplens/platform/testing/hostileRequests';
import type { TenantDatabases } from '@deeplens/projections/tenantDatabases';
import { dedicatedDatabases } from './testing/dedicatedDatabases.ts';

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

/** The claims of a JWT, read without verifying (the APIs verify). */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

type RawAnswer = { status: number | undefined; ms: number; text: string };

/**
 * HTTP by hand on a socket, for what fetch will not send: a body that stalls, a Content-Length
 * that promises 64 MiB, a client that hangs up mid-body. Resolves with the status line's code
 * (undefined if the server closed without answering) once an answer or the close arrives.
 */
function rawRequest(
  base: string,
  head: string,
  body: Buffer | string,
  options: { hangUpAfterMs?: number; timeoutMs?: number; keepSending?: Buffer } = {},
): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ status: status ? Number(status) : undefined, ms: performance.now() - started, text });
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 15_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) finish();
    });
    socket.on('close', finish);
    socket.on('error', finish);
    socket.write(head.replaceAll('\n', '\r\n') + '\r\n');
    socket.write(body);
    const more = options.keepSending;
    if (more) {
      const pump = () => {
        while (!done && socket.write(more));
        if (!done) socket.once('drain', pump);
      };
      pump();
    }
    if (options.hangUpAfterMs !== undefined) setTimeout(() => socket.destroy(), options.hangUpAfterMs);
  });
}

describe('attacks on both APIs: tokens, tenant isolation, keys, sessions, brute force, roles', () => {
  let deeplens: RunningDeepLens;
  let adminToken: string;
  let alpha: Tenant;
  let bravo: Tenant;
  let signIns = 0;
  let notS3Url: string;
  let databases: TenantDatabases;

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

  /** `isolation: 'dedicated'`: an enterprise tenant whose metadata lives in a database of its own. */
  async function tenant(
    slug: string,
    photos: Buffer[],
    plan = 'free',
    isolation: 'shared' | 'dedicated' = 'shared',
  ): Promise<Tenant> {
    const admin = client(deeplens.writeUrl, `Bearer ${adminToken}`);
    const { id } = await json<{ id: string }>(
      await admin('POST', '/v1/tenants', { slug, name: slug, plan, isolation }),
      201,
    );
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
    // Something that answers HTTP but is not S3, on the storage allow-list: what a tenant's
    // misconfigured (or malicious) storage endpoint looks like.
    const notS3Port = await freePort();
    const notS3: Server = createServer((_, response) =>
      response.writeHead(403, { 'content-type': 'text/html' }).end('<html>sign in first</html>'),
    );
    await new Promise<void>((resolve) => notS3.listen(notS3Port, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => notS3.close(resolve)));
    notS3Url = `http://127.0.0.1:${notS3Port}`;
    deeplens = await startDeepLens(t, {
      env: { HTTP_REQUEST_TIMEOUT_SECONDS: '3', TENANT_STORAGE_ALLOWED_ENDPOINTS: notS3Url },
    });
    adminToken = (await signIn(deeplens.admin.email, deeplens.admin.password)).access_token;
    const names = (await readdir(photosDir)).filter((f) => f.endsWith('.jpg')).sort();
    const photos = await Promise.all(names.slice(0, 6).map((name) => readFile(join(photosDir, name))));
    // Plans whose request budget the suite's own traffic never exhausts: rate limits are tested
    // on tenants of their own.
    // Alpha on a dedicated database, bravo on the shared one: every attack between them crosses
    // that boundary, both ways.
    databases = dedicatedDatabases(t, deeplens);
    alpha = await tenant('alpha', photos.slice(0, 3), 'enterprise', 'dedicated');
    bravo = await tenant('bravo', photos.slice(3, 6), 'enterprise');
    assert.equal((await databases.list()).length, 1, "alpha's database, and no other");
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
      'slows down password guessing per (account, address) and per address, and never locks the owner out',
      async () => {
        const anon = client(deeplens.writeUrl);
        const attempts = loadConfig().SIGN_IN_ATTEMPTS_PER_MINUTE;
        const guess = (email: string, secret: string, address: string) =>
          anon(
            'POST',
            '/v1/auth/token',
            { grant_type: 'password', email, password: secret },
            {
              'x-forwarded-for': address,
            },
          );
        // One account guessed from many addresses: each address is on its own budget, so the
        // guesses are answered (401) and the owner's own budget is untouched.
        const spread: number[] = [];
        for (let i = 0; i <= attempts; i++)
          spread.push((await guess('admin@bravo.test', `guess number ${i}!`, `203.0.113.${i + 1}`)).status);
        assert.deepEqual(spread, Array<number>(attempts + 1).fill(401));
        // One account guessed from one address: that pair backs off, with Retry-After.
        const statuses: number[] = [];
        let retryAfter: string | null = null;
        for (let i = 0; i <= attempts; i++) {
          const response = await guess('admin@bravo.test', `guess number ${i}!`, '203.0.113.200');
          statuses.push(response.status);
          if (response.status === 429) {
            retryAfter = response.headers.get('retry-after');
            await problem(response, 429, 'limit_exceeded');
          }
        }
        assert.deepEqual(statuses, [...Array<number>(attempts).fill(401), 429]);
        assert.ok(Number(retryAfter) > 0, `Retry-After: ${retryAfter}`);
        // That address waits even with the right password (it cannot be told from a lucky guess)…
        await problem(await guess('admin@bravo.test', password, '203.0.113.200'), 429, 'limit_exceeded');
        // …but the owner, from their own address, signs in at once; the platform admin too.
        await json(await guess('admin@bravo.test', password, '203.0.113.250'), 200);
        for (let i = 0; i <= attempts; i++)
          await guess(deeplens.admin.email, `wrong ${i}!`, `198.18.0.${i + 1}`);
        await json(await guess(deeplens.admin.email, deeplens.admin.password, '198.18.1.1'), 200);
        // Many accounts from one address: the address's budget runs out.
        const spray: number[] = [];
        for (let i = 0; i <= attempts; i++) {
          const response = await guess(`nobody${i}@alpha.test`, 'Summer2024!!', '192.0.2.99');
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

    await t.test(
      'ends tokens already issued within a second, on both APIs: logout, key revocation, key expiry, suspension, deletion',
      async () => {
        const charlie = await tenant('charlie', [], 'pro');
        const platform = client(deeplens.writeUrl, `Bearer ${adminToken}`);
        const bounds: Record<string, number> = {};
        /** Both APIs' answers to `auth` (an Authorization or X-API-Key header) for a read and a write. */
        const probe = (headers: Record<string, string>) =>
          Promise.all([
            client(deeplens.readUrl)('GET', '/v1/images?limit=1', undefined, headers),
            client(deeplens.writeUrl)('PATCH', `/v1/images/${randomUUID()}`, { tags: ['x'] }, headers),
          ]);
        /**
         * Runs `change`, then measures how long until both APIs answer 401, and checks the bound
         * the issue sets: one second after the change, the token is refused on both.
         */
        async function endsWithin(
          name: string,
          headers: Record<string, string>,
          change: () => Promise<void>,
        ) {
          const [readBefore, writeBefore] = await probe(headers);
          assert.equal(readBefore.status, 200, `${name}: works before`);
          assert.equal(writeBefore.status, 404, `${name}: works before (no such image)`);
          await change();
          const changed = performance.now();
          // Measured: how soon after the change a request that starts is refused by both APIs.
          // (The bound itself is asserted below, on a request sent one second after.)
          for (;;) {
            const sent = performance.now() - changed;
            const answers = await probe(headers);
            if (answers.every((r) => r.status === 401)) {
              bounds[name] = Math.round(sent);
              break;
            }
            for (const answer of answers) await answer.body?.cancel();
            if (performance.now() - changed > 1_000) {
              bounds[name] = Infinity;
              break;
            }
            await sleep(20);
          }
          await sleep(Math.max(0, changed + 1_000 - performance.now()));
          for (const response of await probe(headers)) await problem(response, 401, 'unauthenticated');
        }

        const session = await signIn('user@charlie.test', password);
        await endsWithin('logout', { authorization: `Bearer ${session.access_token}` }, async () => {
          const out = await client(deeplens.writeUrl)('POST', '/v1/auth/logout', {
            refresh_token: session.refresh_token,
          });
          assert.equal(out.status, 204);
        });

        const issueKey = async (body: object) =>
          json<{ id: string; secret: string; expiresAt: string | null }>(
            await charlie.admin.write('POST', `/v1/tenants/${charlie.id}/api-keys`, {
              scopes: ['images:read', 'images:write'],
              ...body,
            }),
            201,
          );
        const exchange = async (secret: string) =>
          (
            await json<{ access_token: string; expires_in: number }>(
              await client(deeplens.writeUrl)(
                'POST',
                '/v1/auth/token',
                { grant_type: 'api_key', api_key: secret },
                { 'x-forwarded-for': '198.51.100.77' },
              ),
              200,
            )
          ).access_token;
        const revocable = await issueKey({ name: 'revoked soon' });
        const fromRevocable = await exchange(revocable.secret);
        await endsWithin(
          'API key revocation (exchanged token)',
          { authorization: `Bearer ${fromRevocable}` },
          async () => {
            assert.equal(
              (await charlie.admin.write('DELETE', `/v1/tenants/${charlie.id}/api-keys/${revocable.id}`))
                .status,
              204,
            );
          },
        );
        for (const response of await probe({ 'x-api-key': revocable.secret }))
          await problem(response, 401, 'unauthenticated');

        const expiring = await issueKey({
          name: 'expires soon',
          expiresAt: new Date(Date.now() + 4_000).toISOString(),
        });
        const expiresAt = Date.parse(expiring.expiresAt!);
        const fromExpiring = await exchange(expiring.secret);
        const exp = claimsOf(fromExpiring)['exp'] as number;
        assert.ok(
          exp * 1000 <= expiresAt,
          `token exp ${exp * 1000} is not after the key's expiresAt ${expiresAt}`,
        );
        await endsWithin(
          'API key expiry (exchanged token)',
          { authorization: `Bearer ${fromExpiring}` },
          async () => {
            await sleep(Math.max(0, expiresAt - Date.now()));
          },
        );

        const adminBearer = { authorization: `Bearer ${charlie.admin.token}` };
        await endsWithin('tenant suspension', { authorization: `Bearer ${charlie.user.token}` }, async () => {
          await json(
            await platform('PATCH', `/v1/tenants/${charlie.id}`, { status: 'suspended', reason: 'unpaid' }),
            200,
          );
        });
        // What the probe found open before: the suspended tenant's admin can neither read, nor
        // delete, nor mint keys, nor create admins.
        for (const response of [
          await client(deeplens.readUrl)('POST', '/v1/search', { imageId: randomUUID() }, adminBearer),
          await client(deeplens.writeUrl)('DELETE', `/v1/images/${randomUUID()}`, undefined, adminBearer),
          await charlie.admin.write('POST', `/v1/tenants/${charlie.id}/api-keys`, { scopes: ['search'] }),
          await charlie.admin.write('POST', '/v1/users', {
            email: `${randomUUID()}@charlie.test`,
            password,
            role: 'tenant_admin',
            tenantId: charlie.id,
          }),
        ])
          await problem(response, 401, 'unauthenticated');
        await json(await platform('PATCH', `/v1/tenants/${charlie.id}`, { status: 'active' }), 200);
        // Reactivated: its tokens stand again once the looked-up standing has aged out.
        await sleep(standingTtlMs + 100);

        await endsWithin('tenant deletion', { authorization: `Bearer ${charlie.user.token}` }, async () => {
          assert.equal((await platform('DELETE', `/v1/tenants/${charlie.id}`)).status, 202);
        });
        t.diagnostic(
          `first request refused on both APIs, sent this many ms after the change: ${JSON.stringify(bounds)}`,
        );
      },
    );

    await t.test('refuses a token issued ten minutes in the future (401 on both APIs)', async () => {
      const claims = claimsOf(alpha.user.token);
      const now = Math.floor(Date.now() / 1000);
      const key = await loadOrCreateSigningKey(join(deeplens.env.SECRETS_DIR!, 'access-token-signing.pem'));
      const config = loadConfig();
      const future = await new SignJWT({
        ...claims,
        jti: randomUUID(),
        iat: now + 600,
        nbf: now,
        exp: now + 900,
      })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
        .setIssuer(config.JWT_ISSUER)
        .setAudience(config.JWT_AUDIENCE)
        .sign(key);
      for (const base of [deeplens.readUrl, deeplens.writeUrl]) {
        const body = await problem(
          await client(base, `Bearer ${future}`)('GET', `/v1/images/${alpha.imageIds[0]}`),
          401,
          'unauthenticated',
        );
        assert.match(String(body['detail']), /issued in the future/);
      }
    });

    await t.test(
      'limits bodies before parsing them (16 KiB before sign-in), ends stalled bodies in seconds, logs hang-ups as aborts',
      async () => {
        const json64MiB = await rawRequest(
          deeplens.writeUrl,
          'POST /v1/auth/token HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 67108864\n',
          '{"grant_type":"password","email":"a@b.test","password":"',
        );
        assert.equal(json64MiB.status, 413, json64MiB.text);
        assert.ok(json64MiB.ms < 1_000, `answered after ${json64MiB.ms} ms`);
        // Without a Content-Length the body is counted as it streams, and cut at the limit.
        const chunked = await rawRequest(
          deeplens.writeUrl,
          'POST /v1/auth/token HTTP/1.1\nHost: x\nContent-Type: application/json\nTransfer-Encoding: chunked\n',
          '',
          { keepSending: Buffer.from(`4000\r\n${' '.repeat(0x4000)}\r\n`) },
        );
        assert.equal(chunked.status, 413, chunked.text);
        // A body that never comes: 408 once HTTP_REQUEST_TIMEOUT_SECONDS (3 s here) has passed.
        const stalled = await rawRequest(
          deeplens.writeUrl,
          'POST /v1/auth/token HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 100\n',
          '{"grant_type":',
        );
        assert.equal(stalled.status, 408, stalled.text);
        assert.ok(stalled.ms < 6_000, `a stalled body held the connection ${stalled.ms} ms`);
        const stalledRead = await rawRequest(
          deeplens.readUrl,
          `POST /v1/search HTTP/1.1\nHost: x\nAuthorization: Bearer ${alpha.user.token}\nContent-Type: application/json\nContent-Length: 100\n`,
          '{"imageId":',
        );
        assert.equal(stalledRead.status, 408, stalledRead.text);

        // A client that hangs up in the middle of an upload: an abort in the log, not an outage.
        const linesBefore = deeplens.output.length;
        const boundary = 'hangup-7f3a';
        const hungUp = await rawRequest(
          deeplens.writeUrl,
          `POST /v1/images HTTP/1.1\nHost: x\nAuthorization: Bearer ${alpha.user.token}\nContent-Type: multipart/form-data; boundary=${boundary}\nContent-Length: 10000000\n`,
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n${'x'.repeat(50_000)}`,
          { hangUpAfterMs: 300 },
        );
        assert.equal(hungUp.status, undefined, 'nobody was there to answer');
        let logged = '';
        for (let i = 0; i < 50 && !logged; i++) {
          await sleep(100);
          logged =
            deeplens.output.slice(linesBefore).find((l) => l.includes('request aborted by the client')) ?? '';
        }
        assert.ok(logged, 'the hang-up is logged as an abort');
        const since = deeplens.output.slice(linesBefore).join('\n');
        assert.doesNotMatch(since, /"status":503|request failed/);
      },
    );

    await t.test(
      'meters each tenant on the read API too, by cost, with RateLimit-* headers on both APIs (429 + Retry-After)',
      async () => {
        const delta = await tenant('delta', []);
        const statuses: number[] = [];
        let refusal: Response | undefined;
        const burst = performance.now();
        for (let batch = 0; batch < 15; batch++) {
          const answers = await Promise.all(
            Array.from({ length: 10 }, () => delta.user.read('GET', '/v1/images?limit=1')),
          );
          for (const answer of answers) {
            statuses.push(answer.status);
            if (answer.status === 200) {
              assert.equal(answer.headers.get('ratelimit-limit'), '60');
              assert.equal(answer.headers.get('ratelimit-policy'), '60;w=60');
              assert.match(answer.headers.get('ratelimit-remaining') ?? '', /^\d+$/);
              assert.match(answer.headers.get('ratelimit-reset') ?? '', /^\d+$/);
              await answer.body?.cancel();
            } else if (!refusal) refusal = answer;
            else await answer.body?.cancel();
          }
        }
        const ok = statuses.filter((s) => s === 200).length;
        // The burst, plus what refills (one a second) while the burst lasts.
        const refilled = Math.ceil((performance.now() - burst) / 1000);
        assert.ok(
          ok >= 60 && ok <= 60 + refilled,
          `${ok} of 150 reads let through in ${refilled} s at 60/minute`,
        );
        assert.equal(statuses.filter((s) => s !== 200 && s !== 429).length, 0, statuses.join(','));
        assert.ok(refusal);
        assert.ok(Number(refusal.headers.get('retry-after')) > 0);
        assert.equal(refusal.headers.get('ratelimit-remaining'), '0');
        await problem(refusal, 429, 'limit_exceeded');
        // The write API answers with the same headers, on its own budget.
        const written = await delta.admin.write('POST', `/v1/tenants/${delta.id}/api-keys`, {
          scopes: ['search'],
        });
        assert.equal(written.status, 201);
        assert.equal(written.headers.get('ratelimit-limit'), '60');

        // A duplicate scan weighs 10: six fill a fresh 60, the seventh waits.
        const echo = await tenant('echo', []);
        const scans: Response[] = [];
        for (let i = 0; i < 7; i++) scans.push(await echo.user.read('GET', '/v1/duplicates'));
        assert.equal(scans[0]!.headers.get('ratelimit-remaining'), '50');
        assert.deepEqual(
          scans.map((r) => r.status === 429),
          [false, false, false, false, false, false, true],
        );
        await problem(scans[6]!, 429, 'limit_exceeded');
      },
    );

    await t.test(
      'strict edges: cursors, storage, e-mails, polyglots, decoder words, metrics, headers, keys, names, vectors',
      async () => {
        const { read, write } = alpha.admin;
        // A listing cursor holding a negative time: 400, not a PostgreSQL error.
        const cursor = Buffer.from(`[-1000000000000000,"${randomUUID()}"]`).toString('base64url');
        await problem(await read('GET', `/v1/images?cursor=${cursor}`), 400, 'validation_failed');

        // Tenant storage: only allow-listed endpoints, prefixes that stay inside themselves, and an
        // endpoint that answers but is not S3 gives 502, not 500.
        const platform = client(deeplens.writeUrl, `Bearer ${adminToken}`);
        const foxtrot = await tenant('foxtrot', []);
        const storage = {
          endpoint: notS3Url,
          bucket: 'foxtrot-images',
          accessKeyId: 'a',
          secretAccessKey: 'b',
        };
        for (const body of [
          { ...storage, endpoint: 'http://169.254.169.254' },
          { ...storage, endpoint: 'http://127.0.0.1:15432' },
          { ...storage, prefix: '../../other-tenant/' },
        ])
          await problem(
            await platform('PUT', `/v1/tenants/${foxtrot.id}/storage`, body),
            400,
            'validation_failed',
          );
        const photo = await makeJpeg(40, 40, 3);
        const form = () => {
          const f = new FormData();
          f.append('file', new Blob([photo], { type: 'image/jpeg' }), 'f.jpg');
          return f;
        };
        const stored = await json<{ images: { id: string }[] }>(
          await foxtrot.user.write('POST', '/v1/images', form()),
          202,
        );
        await json(await platform('PUT', `/v1/tenants/${foxtrot.id}/storage`, storage), 200);
        const upload = await makeJpeg(40, 40, 4);
        const second = new FormData();
        second.append('file', new Blob([upload], { type: 'image/jpeg' }), 'g.jpg');
        await problem(await foxtrot.user.write('POST', '/v1/images', second), 502, 'storage_error');
        await problem(
          await foxtrot.user.read('GET', `/v1/images/${stored.images[0]!.id}/content`),
          502,
          'storage_error',
        );

        // A tenant admin cannot learn that an e-mail has an account in another tenant: that looks
        // like success (and creates nothing); within their own tenant a second one is a 409.
        const elsewhere = await json<{ id: string }>(
          await write('POST', '/v1/users', {
            email: 'admin@bravo.test',
            password: 'another long password',
            role: 'tenant_user',
            tenantId: alpha.id,
          }),
          201,
        );
        assert.match(elsewhere.id, /^[0-9a-f-]{36}$/);
        await problem(
          await client(deeplens.writeUrl)(
            'POST',
            '/v1/auth/token',
            { grant_type: 'password', email: 'admin@bravo.test', password: 'another long password' },
            { 'x-forwarded-for': '198.51.100.150' },
          ),
          401,
          'unauthenticated',
        );
        const mine = {
          email: `${randomUUID()}@alpha.test`,
          password,
          role: 'tenant_user',
          tenantId: alpha.id,
        };
        await json(await write('POST', '/v1/users', mine), 201);
        await problem(await write('POST', '/v1/users', mine), 409, 'conflict');

        // Data after the end of a JPEG or PNG is refused as it is for GIF: no polyglots served back.
        const upload1 = async (bytes: Buffer, name: string, type: string) => {
          const f = new FormData();
          f.append('file', new Blob([bytes], { type }), name);
          return alpha.user.write('POST', '/v1/images', f);
        };
        const png = await makePng(20, 20);
        for (const [bytes, name, type] of [
          [
            Buffer.concat([
              await makeJpeg(30, 30, 9),
              makeZip('shell.php', '<?php ?>'),
              Buffer.from([0xff, 0xd9]),
            ]),
            'a.jpg',
            'image/jpeg',
          ],
          [Buffer.concat([png, Buffer.from('<script>alert(1)</script>')]), 'a.png', 'image/png'],
        ] as const) {
          const body = await problem(await upload1(bytes, name, type), 422, 'unprocessable');
          assert.equal(body['reason'], 'trailing_data', name);
        }
        // A corrupt image is answered with our reason code, never the decoder's words.
        const broken = Buffer.from(png);
        broken.fill(0x41, 16, 40);
        const corrupt = await problem(await upload1(broken, 'c.png', 'image/png'), 422, 'unprocessable');
        assert.equal(corrupt['reason'], 'corrupt');
        assert.doesNotMatch(JSON.stringify(corrupt), /vips|heif|spng|libpng|Input buffer|IHDR/i);

        // /metrics is not answered on the API ports (no METRICS_TOKEN here): it is on METRICS_PORT.
        for (const base of [deeplens.writeUrl, deeplens.readUrl])
          await problem(await fetch(`${base}/metrics`), 404, 'not_found');

        // Cache and sniffing headers: token answers are never stored; JSON answers never sniffed.
        const token = await client(deeplens.writeUrl)(
          'POST',
          '/v1/auth/token',
          { grant_type: 'password', email: 'user@alpha.test', password },
          { 'x-forwarded-for': '198.51.100.151' },
        );
        assert.equal(token.status, 200);
        assert.equal(token.headers.get('cache-control'), 'no-store');
        for (const response of [
          await read('GET', `/v1/images/${alpha.imageIds[0]}`),
          await read('GET', '/v1/images/x'),
        ]) {
          assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
          assert.equal(response.headers.get('cache-control'), 'no-store');
        }

        // A __proto__ attribute key is refused (400), not dropped; so in an upload's attributes.
        const patched = await fetch(`${deeplens.writeUrl}/v1/images/${alpha.imageIds[0]}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${alpha.admin.token}`, 'content-type': 'application/json' },
          body: '{"attributes":{"__proto__":"x","camera":"y"}}',
        });
        assert.equal((await problem(patched, 400, 'validation_failed'))['path'], 'attributes.__proto__');
        const withProto = new FormData();
        withProto.append('file', new Blob([await makeJpeg(30, 30, 11)], { type: 'image/jpeg' }), 'p.jpg');
        withProto.append('attributes', '{"__proto__":"x"}');
        await problem(await alpha.user.write('POST', '/v1/images', withProto), 400, 'validation_failed');

        // A long name is cut between code points: no half of an emoji is stored.
        const named = new FormData();
        named.append(
          'file',
          new Blob([await makeJpeg(30, 30, 12)], { type: 'image/jpeg' }),
          `${'a'.repeat(254)}😀😀.jpg`,
        );
        const [image] = (
          await json<{ images: { filename: string }[] }>(
            await alpha.user.write('POST', '/v1/images', named),
            202,
          )
        ).images;
        assert.equal(image!.filename, 'a'.repeat(254));

        // A scope listed twice is granted once.
        const key = await json<{ scopes: string[] }>(
          await write('POST', `/v1/tenants/${alpha.id}/api-keys`, {
            scopes: ['search', 'search', 'images:read'],
          }),
          201,
        );
        assert.deepEqual(key.scopes, ['search', 'images:read']);

        // Query vectors the index cannot compare by direction are refused, not answered with noise.
        for (const vector of [
          new Array<number>(1280).fill(0),
          new Array<number>(1280).fill(1e-40),
          [1e39, ...new Array<number>(1279).fill(0.1)],
        ])
          await problem(await read('POST', '/v1/search', { vector }), 400, 'validation_failed');
      },
    );

    await t.test(
      'refuses a dedicated database below enterprise, on a server not configured, or given as a URL',
      async () => {
        const platform = client(deeplens.writeUrl, `Bearer ${adminToken}`);
        const dedicated = { name: 'D', isolation: 'dedicated' };
        for (const body of [
          { ...dedicated, slug: 'd-pro', plan: 'pro' },
          { ...dedicated, slug: 'd-nowhere', plan: 'enterprise', databaseTarget: 'nowhere' },
          { ...dedicated, slug: 'd-url', plan: 'enterprise', databaseTarget: 'postgres://u:p@10.0.0.9/db' },
          { name: 'D', slug: 'd-shared', plan: 'enterprise', databaseTarget: 'default' },
        ])
          await problem(await platform('POST', '/v1/tenants', body), 400, 'validation_failed');
        // A dedicated tenant stays on enterprise; a shared one is not moved without a plan.
        await problem(await platform('PATCH', `/v1/tenants/${alpha.id}`, { plan: 'pro' }), 409);
        await problem(await platform('PATCH', `/v1/tenants/${bravo.id}`, { isolation: 'dedicated' }), 400);
        assert.equal((await databases.list()).length, 1, 'no database was made by any of them');
      },
    );

    // Last: alpha goes. Its erasure drops its dedicated database.
    await t.test('erasing the tenant on a dedicated database drops its database', async () => {
      const platform = client(deeplens.writeUrl, `Bearer ${adminToken}`);
      assert.equal((await platform('DELETE', `/v1/tenants/${alpha.id}`)).status, 202);
      for (const deadline = Date.now() + 120_000; (await databases.list()).length > 0;) {
        assert.ok(Date.now() < deadline, "alpha's database is dropped");
        await sleep(250);
      }
      await problem(await bravo.user.read('GET', `/v1/images/${alpha.imageIds[0]}`), 404);
    });
  });
});
