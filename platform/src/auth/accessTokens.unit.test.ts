import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SignJWT, type JWTPayload } from 'jose';
import { UnauthenticatedError, UnavailableError } from '../errors.ts';
import { createTokenIssuer, createTokenVerifier, type AccessTokenSubject } from './accessTokens.ts';
import { generateSigningKey, loadOrCreateSigningKey, publicJwkOf } from './signingKey.ts';

const t0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const issuer = 'deeplens';
const audience = 'deeplens-api';
const privateKey = generateSigningKey();
const tokens = createTokenIssuer({ privateKey, issuer, audience, ttlSeconds: 900, clock: () => t0 });
const verifierAt = (now: number, options: { issuer?: string; audience?: string } = {}) =>
  createTokenVerifier({
    publicKey: tokens.publicKey,
    issuer: options.issuer ?? issuer,
    audience: options.audience ?? audience,
    clock: () => now,
  });
const verifier = verifierAt(t0 + 60_000);

const alice: AccessTokenSubject = {
  actor: 'user:alice',
  tenantId: 'tenant-1',
  role: 'tenant_admin',
  scopes: ['images:write', 'search'],
};

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const validClaims = (): JWTPayload => ({
  iss: issuer,
  aud: audience,
  sub: 'alice',
  actor: 'user:alice',
  tenant_id: 'tenant-1',
  role: 'tenant_user',
  scope: 'search',
  jti: 'jti-1',
  iat: t0 / 1000,
  nbf: t0 / 1000,
  exp: t0 / 1000 + 900,
});
/** Signs arbitrary claims and header with our key, to test the checks after the signature. */
const signRaw = (claims: JWTPayload, header: Record<string, unknown> = { alg: 'EdDSA', typ: 'at+jwt' }) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', ...header }).sign(privateKey);

async function refused(token: string | Promise<string>, message: RegExp, verify = verifier) {
  await assert.rejects(verify.verify(await token), (error: unknown) => {
    assert.ok(error instanceof UnauthenticatedError, `expected UnauthenticatedError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

describe('access tokens', () => {
  it('round-trips a user principal', async () => {
    const issued = await tokens.issue(alice);
    assert.equal(issued.tokenType, 'Bearer');
    assert.equal(issued.expiresIn, 900);
    assert.equal(issued.expiresAt, t0 + 900_000);
    assert.deepEqual(await verifier.verify(issued.accessToken), {
      actor: 'user:alice',
      userId: 'alice',
      tenantId: 'tenant-1',
      role: 'tenant_admin',
      scopes: ['images:write', 'search'],
    });
  });

  it('round-trips a platform admin (no tenant) and an API key principal', async () => {
    const admin = await tokens.issue({
      actor: 'user:root',
      tenantId: null,
      role: 'platform_admin',
      scopes: [],
    });
    assert.deepEqual(await verifier.verify(admin.accessToken), {
      actor: 'user:root',
      userId: 'root',
      tenantId: null,
      role: 'platform_admin',
      scopes: [],
    });
    const key = await tokens.issue({
      actor: 'apikey:k1',
      sub: 'k1',
      tenantId: 't',
      role: 'tenant_user',
      scopes: ['search'],
    });
    assert.deepEqual(await verifier.verify(key.accessToken), {
      actor: 'apikey:k1',
      keyId: 'k1',
      tenantId: 't',
      role: 'tenant_user',
      scopes: ['search'],
    });
  });

  it('signs with EdDSA, typ at+jwt and the key thumbprint as kid', async () => {
    const { accessToken } = await tokens.issue(alice);
    const header = JSON.parse(Buffer.from(accessToken.split('.')[0]!, 'base64url').toString()) as unknown;
    assert.deepEqual(header, { alg: 'EdDSA', typ: 'at+jwt', kid: tokens.kid });
    assert.match(tokens.kid, /^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses to issue an inconsistent subject', async () => {
    await assert.rejects(tokens.issue({ ...alice, role: 'platform_admin' }), /platform admin/);
    await assert.rejects(tokens.issue({ ...alice, tenantId: null }), /platform admin/);
    await assert.rejects(tokens.issue({ ...alice, sub: 'bob' }), /not the id of actor/);
    await assert.rejects(tokens.issue({ ...alice, scopes: ['two words'] }), /not a valid scope/);
  });

  it('refuses an expired token', async () => {
    const { accessToken } = await tokens.issue(alice);
    await verifierAt(t0 + 900_000 + 4_000).verify(accessToken); // within the clock tolerance
    await refused(accessToken, /expired/, verifierAt(t0 + 900_000 + 6_000));
  });

  it('refuses a token that is not valid yet', async () => {
    const { accessToken } = await tokens.issue(alice);
    await refused(accessToken, /not valid yet/, verifierAt(t0 - 60_000));
  });

  it('refuses another issuer or audience', async () => {
    const { accessToken } = await tokens.issue(alice);
    await refused(accessToken, /issued by someone else/, verifierAt(t0, { issuer: 'evil' }));
    await refused(accessToken, /another audience/, verifierAt(t0, { audience: 'other-api' }));
  });

  it('refuses an unsigned alg:none token', async () => {
    const unsigned = `${base64url({ alg: 'none', typ: 'at+jwt' })}.${base64url(validClaims())}.`;
    await refused(unsigned, /algorithm is not accepted|malformed/);
    await refused(`${base64url({ alg: 'none', typ: 'at+jwt' })}.${base64url(validClaims())}`, /malformed/);
  });

  it('refuses a forged signature and a tampered payload', async () => {
    const mallory = createTokenIssuer({
      privateKey: generateSigningKey(),
      issuer,
      audience,
      ttlSeconds: 900,
      kid: tokens.kid,
      clock: () => t0,
    });
    await refused((await mallory.issue(alice)).accessToken, /signature is invalid/);

    const [header, , signature] = (await tokens.issue(alice)).accessToken.split('.');
    const promoted = { ...validClaims(), role: 'tenant_admin' };
    await refused(`${header}.${base64url(promoted)}.${signature}`, /signature is invalid/);
  });

  it('refuses another algorithm, including HS256 keyed with our public key', async () => {
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const es256 = await new SignJWT(validClaims())
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .sign(ecKey);
    await refused(es256, /algorithm is not accepted/);

    const publicPem = tokens.publicKey.export({ type: 'spki', format: 'pem' });
    const hs256 = await new SignJWT(validClaims())
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(Buffer.from(publicPem));
    await refused(hs256, /algorithm is not accepted/);
  });

  it('refuses a JWT that is not an access token', async () => {
    await refused(signRaw(validClaims(), { typ: 'JWT' }), /not an access token/);
    await refused(signRaw(validClaims(), {}), /not an access token/);
  });

  it('refuses missing or malformed claims', async () => {
    for (const claim of ['sub', 'exp', 'jti', 'actor', 'role', 'tenant_id', 'scope']) {
      const claims = validClaims();
      delete claims[claim];
      await refused(signRaw(claims), new RegExp(`lacks the "${claim}" claim`));
    }
    await refused(signRaw({ ...validClaims(), role: 'root' }), /invalid claims: role/);
    await refused(signRaw({ ...validClaims(), actor: 'system:relay' }), /invalid claims: actor/);
    await refused(signRaw({ ...validClaims(), actor: 'user:bob' }), /sub does not match its actor/);
    await refused(signRaw({ ...validClaims(), role: 'platform_admin' }), /role does not fit its tenant/);
    await refused(signRaw({ ...validClaims(), tenant_id: 42 }), /invalid claims: tenant_id/);
  });

  it('refuses garbage and absurdly long tokens', async () => {
    await refused('not-a-jwt', /malformed/);
    await refused('a.b.c', /malformed/);
    await refused('x'.repeat(10_000), /too long/);
  });
});

describe('JWKS', () => {
  it('publishes the public key only and verifies through it, across a key rotation', async () => {
    const jwks = tokens.publicJwks();
    assert.equal(jwks.keys.length, 1);
    assert.deepEqual(Object.keys(jwks.keys[0]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);

    const next = createTokenIssuer({
      privateKey: generateSigningKey(),
      issuer,
      audience,
      ttlSeconds: 900,
      clock: () => t0,
    });
    const both = { keys: [...jwks.keys, ...next.publicJwks().keys] };
    const viaJwks = createTokenVerifier({ jwks: both, issuer, audience, clock: () => t0 });
    assert.equal((await viaJwks.verify((await tokens.issue(alice)).accessToken)).userId, 'alice');
    assert.equal((await viaJwks.verify((await next.issue(alice)).accessToken)).userId, 'alice');

    const onlyOld = createTokenVerifier({ jwks, issuer, audience, clock: () => t0 });
    await refused((await next.issue(alice)).accessToken, /unknown key/, onlyOld);
  });

  it('works with a P-256 key (ES256) too', async () => {
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const es = createTokenIssuer({ privateKey: ecKey, issuer, audience, ttlSeconds: 60, clock: () => t0 });
    assert.equal(es.algorithm, 'ES256');
    const viaJwks = createTokenVerifier({ jwks: es.publicJwks(), issuer, audience, clock: () => t0 });
    assert.equal((await viaJwks.verify((await es.issue(alice)).accessToken)).role, 'tenant_admin');
    await refused((await es.issue(alice)).accessToken, /algorithm is not accepted/);
  });

  it('answers 503, not 401, when a remote JWKS cannot be fetched', async () => {
    const remote = createTokenVerifier({
      jwksUrl: 'http://127.0.0.1:9/jwks.json',
      issuer,
      audience,
      clock: () => t0,
    });
    await assert.rejects(remote.verify((await tokens.issue(alice)).accessToken), UnavailableError);
  });

  it('refuses keys other than Ed25519 and P-256', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    assert.throws(
      () => createTokenIssuer({ privateKey: rsa, issuer, audience, ttlSeconds: 60 }),
      /Ed25519 or EC P-256/,
    );
    assert.throws(() => publicJwkOf(rsa), /Ed25519 or EC P-256/);
  });
});

describe('access tokens: what revocation and hostile issuers need', () => {
  it('carries the session id, which a logout ends', async () => {
    const sessionId = '0b7c1a52-6a43-4f55-9d3e-6d1b8f0f2a11';
    const issued = await tokens.issue({ ...alice, sessionId });
    assert.equal((await verifier.verify(issued.accessToken)).sessionId, sessionId);
    await assert.rejects(tokens.issue({ ...alice, sessionId: 'not-a-uuid' }), /session id is a UUID/);
  });

  it("never outlives notAfter (an API key's expiresAt), and will not issue past it", async () => {
    const issued = await tokens.issue({ ...alice, actor: 'apikey:k1', notAfter: t0 + 120_500 });
    assert.equal(issued.expiresIn, 120);
    assert.equal(issued.expiresAt, t0 + 120_000);
    await refused(issued.accessToken, /expired/, verifierAt(t0 + 126_000));
    const unbounded = await tokens.issue({ ...alice, notAfter: null });
    assert.equal(unbounded.expiresIn, 900);
    await assert.rejects(tokens.issue({ ...alice, notAfter: t0 + 500 }), /past its notAfter/);
  });

  it('refuses a token issued in the future, beyond the clock tolerance', async () => {
    const tenMinutes = 600;
    await refused(
      signRaw({ ...validClaims(), iat: t0 / 1000 + 60 + tenMinutes, exp: t0 / 1000 + 3_600 }),
      /issued in the future/,
    );
    // Within the 5 s tolerance it passes: clocks drift.
    const skewed = await signRaw({ ...validClaims(), iat: t0 / 1000 + 63, nbf: t0 / 1000 });
    assert.equal((await verifier.verify(skewed)).actor, 'user:alice');
  });

  it('collapses duplicate scopes, when issuing and when verifying', async () => {
    const issued = await tokens.issue({ ...alice, scopes: ['search', 'search', 'images:write'] });
    assert.deepEqual((await verifier.verify(issued.accessToken)).scopes, ['search', 'images:write']);
    const raw = await signRaw({ ...validClaims(), scope: 'search search' });
    assert.deepEqual((await verifier.verify(raw)).scopes, ['search']);
  });
});

describe('loadOrCreateSigningKey', () => {
  it('creates a 0600 key once and loads the same key afterwards, even when raced', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'signing-key-'));
    const path = join(dir, 'nested', 'jwt.pem');
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateSigningKey(path)));
    const jwks = new Set(keys.map((k) => publicJwkOf(k).x));
    assert.equal(jwks.size, 1);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.match(await readFile(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(publicJwkOf(await loadOrCreateSigningKey(path)).x, [...jwks][0]);

    const issuerFromFile = createTokenIssuer({
      privateKey: await readFile(path, 'utf8'),
      issuer,
      audience,
      ttlSeconds: 60,
    });
    assert.equal(issuerFromFile.kid, publicJwkOf(keys[0]!).kid);
  });

  it('refuses a key file that others can read', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'signing-key-')), 'jwt.pem');
    await loadOrCreateSigningKey(path);
    await chmod(path, 0o644);
    await assert.rejects(loadOrCreateSigningKey(path), /readable by others/);
  });
});
