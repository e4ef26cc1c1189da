import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCredentialStandingCheck, standingTtlMs } from '@deeplens/commands/identity/credentialStanding';
import { userAggregate } from '@deeplens/commands/writeModelRules';
import { adminEmail, adminPassword, startWriteApi } from '@deeplens/write-api/testing/writeApiHarness';
import { startReadApi } from './testing/readApiHarness.ts';

const password = 'a long enough password';

/** The `sub` of an access token (the user id), read without verifying: the APIs verify. */
function subjectOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string };
  return payload.sub;
}

describe('revocation of tokens already issued: role change and user disabling (no HTTP route does these)', () => {
  it('ends the old token on both APIs within the bound; a new sign-in carries the new role', async (t) => {
    const write = await startWriteApi(t);
    const read = await startReadApi(t, write.config);
    const admin = await write.signIn(adminEmail, adminPassword);
    const created = await write.call('POST', '/v1/tenants', {
      token: admin.access_token,
      json: { slug: 'revoked', name: 'Revoked', plan: 'pro' },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { id: tenantId } = (await created.json()) as { id: string };
    const registered = await write.call('POST', '/v1/users', {
      token: admin.access_token,
      json: { email: 'boss@revoked.test', password, role: 'tenant_admin', tenantId },
    });
    assert.equal(registered.status, 201);
    const boss = (await write.signIn('boss@revoked.test', password)).access_token;
    const userId = subjectOf(boss);
    const readWith = (token: string) =>
      fetch(`${read.baseUrl}/v1/images?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    const mintWith = (token: string) =>
      write.call('POST', `/v1/tenants/${tenantId}/api-keys`, { token, json: { scopes: ['search'] } });
    assert.equal((await readWith(boss)).status, 200);
    assert.equal((await mintWith(boss)).status, 201);

    // What the check costs a request when its look-up is not reused (ttlMs 0): one indexed read.
    const uncached = createCredentialStandingCheck(write.deps.pool, { ttlMs: 0 });
    const principal = {
      actor: `user:${userId}` as const,
      userId,
      tenantId,
      role: 'tenant_admin' as const,
      scopes: [],
    };
    const lookUps = 200;
    const started = performance.now();
    for (let i = 0; i < lookUps; i++) await uncached(principal);
    t.diagnostic(
      `standing look-up without the cache: ${((performance.now() - started) / lookUps).toFixed(2)} ms mean over ${lookUps}`,
    );

    /** Milliseconds until both APIs refuse `token` (401), polled from the moment `change` returned. */
    async function refusedAfter(token: string, change: () => Promise<unknown>): Promise<number> {
      await change();
      const started = performance.now();
      for (;;) {
        const [r, w] = await Promise.all([readWith(token), mintWith(token)]);
        if (r.status === 401 && w.status === 401) return performance.now() - started;
        assert.ok(performance.now() - started < 2_000, `still ${r.status} / ${w.status} after 2 s`);
        await sleep(20);
      }
    }
    const origin = { actor: 'system:test' as const };

    const demoted = await refusedAfter(boss, () =>
      write.deps.handler.handle(
        userAggregate,
        { type: 'ChangeUserRole', data: { userId, role: 'tenant_user' } },
        origin,
      ),
    );
    t.diagnostic(`role change: refused on both APIs after ${demoted.toFixed(0)} ms`);
    assert.ok(demoted <= standingTtlMs + 250, `${demoted} ms`);
    // One second later, certainly; and the 401 names why.
    await sleep(1_000);
    const refused = await readWith(boss);
    assert.equal(refused.status, 401);
    assert.match(((await refused.json()) as { detail: string }).detail, /role has changed/);
    // Signing in again gives a token of the new role, which may not mint keys.
    const worker = (await write.signIn('boss@revoked.test', password)).access_token;
    assert.equal((await readWith(worker)).status, 200);
    assert.equal((await mintWith(worker)).status, 403);

    const disabled = await refusedAfter(worker, () =>
      write.deps.handler.handle(userAggregate, { type: 'DisableUser', data: { userId } }, origin),
    );
    t.diagnostic(`user disabled: refused on both APIs after ${disabled.toFixed(0)} ms`);
    assert.ok(disabled <= standingTtlMs + 250, `${disabled} ms`);
    await sleep(1_000);
    assert.equal((await readWith(worker)).status, 401);
    const again = await write.call('POST', '/v1/auth/token', {
      json: { grant_type: 'password', email: 'boss@revoked.test', password },
    });
    assert.equal(again.status, 401);
  });
});
