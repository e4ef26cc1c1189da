import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTokenIssuer, createTokenVerifier } from './accessTokens.ts';
import { generateSigningKey } from './signingKey.ts';
import { UnauthenticatedError } from '../errors.ts';
import { rememberVerifiedTokens } from './rememberedTokens.ts';

const issuer = 'deeplens';
const audience = 'deeplens-api';
const t0 = Date.UTC(2026, 0, 1);

function setUp() {
  let now = t0;
  const clock = () => now;
  const privateKey = generateSigningKey();
  const tokens = createTokenIssuer({ privateKey, issuer, audience, ttlSeconds: 900, clock });
  const real = createTokenVerifier({ publicKey: tokens.publicKey, issuer, audience, clock });
  const verified: string[] = [];
  // The real verifier, noting what reaches it.
  const counted = {
    verify: (token: string) => {
      verified.push(token);
      return real.verify(token);
    },
  };
  const issue = (actor: `user:${string}`) =>
    tokens
      .issue({ actor, tenantId: 'tenant-1', role: 'tenant_user', scopes: ['search'] })
      .then((t) => t.accessToken);
  return { clock, advance: (ms: number) => (now += ms), tokens, counted, verified, issue };
}

describe('rememberVerifiedTokens', () => {
  it('checks a token once, answers the same principal until it expires, then refuses it', async () => {
    const { clock, advance, counted, verified, issue } = setUp();
    const verifier = rememberVerifiedTokens(counted, { clock });
    const token = await issue('user:alice');
    const first = await verifier.verify(token);
    first.scopes.push('images:write'); // a caller's change is not remembered
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await verifier.verify(token), {
        actor: 'user:alice',
        userId: 'alice',
        tenantId: 'tenant-1',
        role: 'tenant_user',
        scopes: ['search'],
      });
    }
    assert.equal(verified.length, 1, 'the signature is checked once');
    advance(900_000 + 6_000); // past exp and the verifier's 5 s tolerance
    await assert.rejects(verifier.verify(token), UnauthenticatedError);
    assert.equal(verified.length, 2, 'an expired token goes back to the verifier');
  });

  it('remembers no refusal, and tells tokens apart by their whole text', async () => {
    const { clock, counted, verified, issue } = setUp();
    const verifier = rememberVerifiedTokens(counted, { clock });
    const token = await issue('user:bob');
    const [header, payload, signature] = token.split('.');
    const forged = `${header}.${payload}.${signature!.slice(0, -4)}AAAA`;
    for (let i = 0; i < 2; i++) await assert.rejects(verifier.verify(forged), UnauthenticatedError);
    assert.equal(verified.length, 2);
    await verifier.verify(token);
    await assert.rejects(
      verifier.verify(forged),
      UnauthenticatedError,
      'the valid one does not vouch for it',
    );
  });

  it('keeps at most maxTokens, the oldest going first', async () => {
    const { clock, counted, verified, issue } = setUp();
    const verifier = rememberVerifiedTokens(counted, { clock, maxTokens: 2 });
    const [a, b, c] = await Promise.all(
      ['user:a', 'user:b', 'user:c'].map((u) => issue(u as `user:${string}`)),
    );
    for (const token of [a!, b!, c!, b!, c!]) await verifier.verify(token);
    assert.equal(verified.length, 3);
    await verifier.verify(a!);
    assert.equal(verified.length, 4, 'a was forgotten');
  });
});
