import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { createTokenIssuer, createTokenVerifier } from '../auth/accessTokens.ts';
import { generateApiKey } from '../auth/apiKeys.ts';
import { createRateLimiter } from '../auth/rateLimiter.ts';
import { generateSigningKey } from '../auth/signingKey.ts';
import { createLogger } from '../logger.ts';
import {
  authenticate,
  principalOf,
  requireRole,
  requireScope,
  tenantScope,
  type ApiKeyRecord,
  type AuthVariables,
} from './authenticate.ts';
import { problemErrorHandler } from './problem.ts';
import { rateLimit } from './rateLimit.ts';

const now = Date.UTC(2025, 0, 1);
const clock = () => now;
const config = { issuer: 'deeplens', audience: 'deeplens-api', clock };
const tokens = createTokenIssuer({ ...config, privateKey: generateSigningKey(), ttlSeconds: 900 });
const verifier = createTokenVerifier({ ...config, publicKey: tokens.publicKey });

const key = generateApiKey();
const revokedKey = generateApiKey();
const expiredKey = generateApiKey();
const records = new Map<string, ApiKeyRecord>([
  [
    key.prefix,
    {
      keyId: key.keyId,
      tenantId: 'acme',
      secretHash: key.secretHash,
      scopes: ['search'],
      expiresAt: null,
      revoked: false,
    },
  ],
  [
    revokedKey.prefix,
    {
      keyId: revokedKey.keyId,
      tenantId: 'acme',
      secretHash: revokedKey.secretHash,
      scopes: ['search'],
      expiresAt: null,
      revoked: true,
    },
  ],
  [
    expiredKey.prefix,
    {
      keyId: expiredKey.keyId,
      tenantId: 'acme',
      secretHash: expiredKey.secretHash,
      scopes: ['search'],
      expiresAt: now,
      revoked: false,
    },
  ],
]);

type Env = { Variables: AuthVariables & { requestStartedAt: number } };

function testApp() {
  const app = new Hono<Env>();
  app.onError(problemErrorHandler(createLogger({}, 'error', () => undefined)));
  app.use('/v1/*', authenticate({ verifier, resolveApiKey: async (prefix) => records.get(prefix), clock }));
  app.get('/v1/me', (c) => c.json(principalOf(c)));
  app.get('/v1/admin', requireRole('platform_admin', 'tenant_admin'), (c) => c.text('ok'));
  app.get('/v1/search', requireScope('search'), (c) => c.text('ok'));
  app.get('/v1/tenants/:tenantId/usage', (c) => c.json({ tenant: tenantScope(c, c.req.param('tenantId')) }));
  app.get('/v1/images', (c) => c.json({ tenant: tenantScope(c) }));
  return app;
}
const app = testApp();

const bearer = async (subject: Parameters<typeof tokens.issue>[0]) => ({
  Authorization: `Bearer ${(await tokens.issue(subject)).accessToken}`,
});
const ada = () => bearer({ actor: 'user:ada', tenantId: 'acme', role: 'tenant_user', scopes: ['search'] });
const admin = () => bearer({ actor: 'user:root', tenantId: null, role: 'platform_admin', scopes: [] });

async function problemOf(response: Response, status: number): Promise<{ detail: string; code: string }> {
  assert.equal(response.status, status);
  assert.equal(response.headers.get('Content-Type'), 'application/problem+json');
  return (await response.json()) as { detail: string; code: string };
}

describe('authenticate', () => {
  it('refuses a request without credentials with a challenge', async () => {
    const response = await app.request('/v1/me');
    assert.match((await problemOf(response, 401)).detail, /needs an access token or an API key/);
    assert.equal(
      response.headers.get('WWW-Authenticate'),
      'Bearer realm="deeplens", ApiKey realm="deeplens"',
    );
  });

  it('accepts an access token', async () => {
    const response = await app.request('/v1/me', { headers: await ada() });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      actor: 'user:ada',
      userId: 'ada',
      tenantId: 'acme',
      role: 'tenant_user',
      scopes: ['search'],
    });
  });

  it('refuses an invalid access token with error="invalid_token"', async () => {
    const late = createTokenIssuer({
      ...config,
      clock: () => now - 3_600_000,
      privateKey: generateSigningKey(),
      ttlSeconds: 60,
    });
    const { accessToken } = await late.issue({
      actor: 'user:ada',
      tenantId: 'acme',
      role: 'tenant_user',
      scopes: [],
    });
    const response = await app.request('/v1/me', { headers: { Authorization: `Bearer ${accessToken}` } });
    await problemOf(response, 401);
    assert.match(
      response.headers.get('WWW-Authenticate')!,
      /^Bearer realm="deeplens", error="invalid_token", error_description="access token/,
    );
  });

  it('accepts an API key as ApiKey, as X-API-Key, and as a Bearer token', async () => {
    const expected = {
      actor: `apikey:${key.keyId}`,
      keyId: key.keyId,
      tenantId: 'acme',
      role: 'tenant_user',
      scopes: ['search'],
    };
    const variants: Array<Record<string, string>> = [
      { Authorization: `ApiKey ${key.secret}` },
      { Authorization: `apikey  ${key.secret}` },
      { 'X-API-Key': key.secret },
      { Authorization: `Bearer ${key.secret}` },
    ];
    for (const headers of variants) {
      const response = await app.request('/v1/me', { headers });
      assert.equal(response.status, 200, JSON.stringify(headers));
      assert.deepEqual(await response.json(), expected);
    }
  });

  it('refuses a wrong secret and an unknown prefix alike', async () => {
    const wrongSecret = `${key.secret.slice(0, -4)}AAAA`;
    const unknownPrefix = generateApiKey().secret;
    for (const token of [wrongSecret, unknownPrefix]) {
      const response = await app.request('/v1/me', { headers: { 'X-API-Key': token } });
      assert.equal((await problemOf(response, 401)).detail, 'API key is not valid');
      assert.equal(
        response.headers.get('WWW-Authenticate'),
        'Bearer realm="deeplens", ApiKey realm="deeplens"',
      );
    }
  });

  it('refuses a revoked, an expired and a malformed API key', async () => {
    const detailFor = async (token: string) =>
      (await problemOf(await app.request('/v1/me', { headers: { 'X-API-Key': token } }), 401)).detail;
    assert.equal(await detailFor(revokedKey.secret), 'API key has been revoked');
    assert.equal(await detailFor(expiredKey.secret), 'API key has expired');
    assert.equal(await detailFor('dl_nope'), 'API key is malformed');
  });

  it('refuses two credentials at once and unknown schemes', async () => {
    const both = await app.request('/v1/me', { headers: { ...(await ada()), 'X-API-Key': key.secret } });
    await problemOf(both, 400);
    const basic = await app.request('/v1/me', { headers: { Authorization: 'Basic YWRhOnB3' } });
    assert.match((await problemOf(basic, 401)).detail, /Bearer or ApiKey/);
    const empty = await app.request('/v1/me', { headers: { Authorization: 'Bearer' } });
    await problemOf(empty, 401);
  });
});

describe('requireRole and requireScope', () => {
  it('lets listed roles through and answers 403 to others', async () => {
    assert.equal((await app.request('/v1/admin', { headers: await admin() })).status, 200);
    const response = await app.request('/v1/admin', { headers: await ada() });
    assert.equal((await problemOf(response, 403)).code, 'forbidden');
  });

  it('lets holders of the scope through and answers 403 insufficient_scope to others', async () => {
    assert.equal((await app.request('/v1/search', { headers: { 'X-API-Key': key.secret } })).status, 200);
    const response = await app.request('/v1/search', { headers: await admin() });
    await problemOf(response, 403);
    assert.equal(
      response.headers.get('WWW-Authenticate'),
      'Bearer error="insufficient_scope", scope="search"',
    );
  });
});

describe('tenantScope', () => {
  it("answers the caller's own tenant, and 404 (not 403) for another", async () => {
    const own = await app.request('/v1/tenants/acme/usage', { headers: await ada() });
    assert.deepEqual(await own.json(), { tenant: 'acme' });
    const other = await app.request('/v1/tenants/globex/usage', { headers: await ada() });
    const problem = await problemOf(other, 404);
    assert.equal(problem.detail, 'tenant globex not found');
    const viaKey = await app.request('/v1/tenants/globex/usage', { headers: { 'X-API-Key': key.secret } });
    await problemOf(viaKey, 404);
  });

  it('lets a platform admin name any tenant, and only by naming it', async () => {
    const any = await app.request('/v1/tenants/globex/usage', { headers: await admin() });
    assert.deepEqual(await any.json(), { tenant: 'globex' });
    await problemOf(await app.request('/v1/images', { headers: await admin() }), 400);
    assert.deepEqual(await (await app.request('/v1/images', { headers: await ada() })).json(), {
      tenant: 'acme',
    });
  });

  it('fails loudly when authenticate is not mounted', async () => {
    const bare = new Hono<Env>();
    bare.onError(problemErrorHandler(createLogger({}, 'error', () => undefined)));
    bare.get('/x', (c) => c.text(tenantScope(c, 'acme')));
    assert.equal((await bare.request('/x')).status, 500);
  });
});

describe('rateLimit', () => {
  it('answers 429 with Retry-After past the limit', async () => {
    const limited = new Hono<Env>();
    limited.onError(problemErrorHandler(createLogger({}, 'error', () => undefined)));
    const limiter = createRateLimiter({ limit: 2, windowSeconds: 60, clock });
    limited.use(
      '*',
      rateLimit<Env>({ limiter, keyOf: (c) => ({ key: `ip:${c.req.header('X-Forwarded-For') ?? '-'}` }) }),
    );
    limited.get('/v1/auth/token', (c) => c.text('ok'));

    const send = () => limited.request('/v1/auth/token', { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    assert.equal((await send()).headers.get('RateLimit-Remaining'), '1');
    assert.equal((await send()).status, 200);
    const refused = await send();
    assert.equal((await problemOf(refused, 429)).code, 'limit_exceeded');
    assert.equal(refused.headers.get('Retry-After'), '30');
  });
});
