import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { z } from 'zod';
import { sql } from '@deeplens/platform/database';
import { UnauthenticatedError } from '@deeplens/platform/errors';
import { runMigrations } from '@deeplens/platform/migrations';
import { writeModelMigrations } from '../commandHandler.ts';
import { createWriteModelDatabase } from '../testing/writeModelDatabase.ts';
import {
  createRefreshTokenStore,
  hashRefreshToken,
  type RefreshTokenReuse,
  type RefreshTokenStoreOptions,
} from './refreshTokens.ts';

const day = 86_400_000;

async function setUp(t: TestContext, options: RefreshTokenStoreOptions = {}) {
  const db = await createWriteModelDatabase(t);
  let now = Date.UTC(2025, 0, 1);
  const reuses: RefreshTokenReuse[] = [];
  const store = createRefreshTokenStore(db.pool, {
    clock: () => now,
    ttlSeconds: 30 * 86_400,
    onReuseDetected: (reuse) => reuses.push(reuse),
    ...options,
  });
  return { ...db, store, reuses, advance: (ms: number) => (now += ms) };
}

async function refusedWith(promise: Promise<unknown>, message: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UnauthenticatedError, String(error));
    assert.match(error.message, message);
    return true;
  });
}

describe('refresh tokens', () => {
  it('stores only the hash, and rotates a token into a new one of the same session', async (t) => {
    const { store, pool } = await setUp(t);
    const first = await store.issue('user-1', 'acme');
    assert.match(first.token, /^[A-Za-z0-9_-]{43}$/);
    const stored = await pool.manyFirst(sql.type(z.object({ token_hash: z.string() }))`
      select token_hash from auth.refresh_tokens`);
    assert.deepEqual(stored, [hashRefreshToken(first.token)]);

    const second = await store.rotate(first.token);
    assert.notEqual(second.token, first.token);
    assert.equal(second.familyId, first.familyId);
    assert.equal(second.userId, 'user-1');
    assert.equal(second.tenantId, 'acme');
    const third = await store.rotate(second.token);
    assert.equal(third.familyId, first.familyId);

    const chain = await pool.many(sql.type(
      z.object({ id: z.string(), replaced_by: z.string().nullable(), used: z.boolean() }),
    )`
      select id::text, replaced_by::text, used_at is not null as used from auth.refresh_tokens order by issued_at, used_at nulls last`);
    assert.equal(chain.length, 3);
    assert.equal(chain.find((r) => r.id === first.tokenId)?.replaced_by, second.tokenId);
    assert.equal(chain.find((r) => r.id === second.tokenId)?.replaced_by, third.tokenId);
    assert.equal(chain.find((r) => r.id === third.tokenId)?.used, false);
  });

  it('keeps the sessions of a database whose table an earlier migration set created', async (t) => {
    // Until the write model owned them, the write API's own migrations created this table: on
    // such a database the write model's session migration is new, and runs over live sessions.
    const { store, pool, url } = await setUp(t);
    const live = await store.issue('user-1', 'acme');
    await pool.query(sql.typeAlias('void')`
      delete from public.schema_migrations where component = 'write-model' and name = '005_sessions.sql'`);

    assert.deepEqual(await runMigrations(url, 'write-model', writeModelMigrations), ['005_sessions.sql']);
    const rotated = await store.rotate(live.token);
    assert.equal(rotated.familyId, live.familyId);
    const triggers = await pool.manyFirst(sql.type(z.object({ tgname: z.string() }))`
      select tgname from pg_trigger where tgrelid = 'auth.refresh_tokens'::regclass and not tgisinternal
      order by tgname`);
    assert.deepEqual(triggers, ['credential_session_revoked', 'credential_sessions_removed']);
  });

  it('keeps platform admins (no tenant) apart', async (t) => {
    const { store } = await setUp(t);
    const { token } = await store.issue('root', null);
    const rotated = await store.rotate(token);
    assert.equal(rotated.tenantId, null);
  });

  it('detects reuse of a rotated token and revokes the whole family', async (t) => {
    const { store, reuses } = await setUp(t);
    const stolen = await store.issue('user-1', 'acme');
    const other = await store.issue('user-1', 'acme'); // another device: another family
    const legit = await store.rotate(stolen.token);

    await refusedWith(store.rotate(stolen.token), /refresh token reuse detected/);
    assert.deepEqual(reuses, [
      { familyId: stolen.familyId, userId: 'user-1', tenantId: 'acme', reason: 'used' },
    ]);
    // The legitimate client's newer token died with its family...
    await refusedWith(store.rotate(legit.token), /reuse detected/);
    // ...and the other device's session lives on.
    assert.equal((await store.rotate(other.token)).familyId, other.familyId);
  });

  it('lets exactly one of two concurrent rotations win', async (t) => {
    const { store } = await setUp(t);
    for (let round = 0; round < 5; round++) {
      const { token } = await store.issue(`user-${round}`, 'acme');
      const results = await Promise.allSettled([
        store.rotate(token),
        store.rotate(token),
        store.rotate(token),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1, `round ${round}`);
      assert.equal(lost.length, 2);
      for (const l of lost) assert.ok(l.reason instanceof UnauthenticatedError);
      // Strict mode: the race counts as reuse, so the winner's token is revoked too.
      await refusedWith(store.rotate(won[0]!.value.token), /reuse detected/);
    }
  });

  it('with a grace period, refuses a racing rotation without revoking the winner', async (t) => {
    const { store, reuses, advance } = await setUp(t, { reuseGraceSeconds: 10 });
    const { token } = await store.issue('user-1', 'acme');
    const results = await Promise.allSettled([store.rotate(token), store.rotate(token)]);
    const winner = results.find((r) => r.status === 'fulfilled');
    const loser = results.find((r) => r.status === 'rejected');
    assert.ok(winner && loser);
    assert.match((loser.reason as Error).message, /already rotated/);
    assert.deepEqual(reuses, []);
    const next = await store.rotate(winner.value.token);

    // Past the grace period a second use is theft again.
    advance(11_000);
    await refusedWith(store.rotate(winner.value.token), /reuse detected/);
    await refusedWith(store.rotate(next.token), /reuse detected/);
  });

  it('refuses an expired token, and an unknown or malformed one', async (t) => {
    const { store, advance } = await setUp(t);
    const { token } = await store.issue('user-1', 'acme');
    const rotatedAt = advance(30 * day - 1);
    const fresh = await store.rotate(token);
    assert.equal(fresh.expiresAt, rotatedAt + 30 * day);
    advance(30 * day);
    await refusedWith(store.rotate(fresh.token), /expired/);
    await refusedWith(store.rotate('A'.repeat(43)), /not valid/);
    await refusedWith(store.rotate('not a token'), /not valid/);
  });

  it('logs out: revokes the family, so neither the token nor its ancestors work', async (t) => {
    const { store, reuses } = await setUp(t);
    const first = await store.issue('user-1', 'acme');
    const second = await store.rotate(first.token);
    assert.equal(await store.revoke(second.token), true);
    assert.equal(await store.revoke(second.token), true, 'logging out twice is fine');
    assert.equal(await store.revoke('B'.repeat(43)), false);
    await refusedWith(store.rotate(second.token), /reuse detected/);
    assert.equal(reuses[0]?.reason, 'revoked');
    await refusedWith(store.issue('user-1', 'acme', first.familyId), /revoked/);
  });

  it("lets a token join only its own user's live family", async (t) => {
    const { store } = await setUp(t);
    const session = await store.issue('user-1', 'acme');
    const extra = await store.issue('user-1', 'acme', session.familyId);
    assert.equal(extra.familyId, session.familyId);
    await refusedWith(store.issue('user-2', 'acme', session.familyId), /revoked/);
    await refusedWith(store.issue('user-1', 'globex', session.familyId), /revoked/);
  });

  it('a token minted by a rotation racing a logout is dead too', async (t) => {
    const { store, pool } = await setUp(t);
    const first = await store.issue('user-1', 'acme');
    const second = await store.rotate(first.token);
    // What a logout whose snapshot predates that rotation leaves: the old row revoked, the new
    // one not marked.
    await pool.query(sql.unsafe`
      update auth.refresh_tokens set revoked_at = now() where id = ${first.tokenId}`);
    await refusedWith(store.rotate(second.token), /reuse detected/);
  });

  it('signs a user out everywhere', async (t) => {
    const { store } = await setUp(t);
    const phone = await store.issue('user-1', 'acme');
    const laptop = await store.issue('user-1', 'acme');
    const someoneElse = await store.issue('user-2', 'acme');
    assert.equal(await store.revokeAllForUser('user-1'), 2);
    await refusedWith(store.rotate(phone.token), /reuse detected/);
    await refusedWith(store.rotate(laptop.token), /reuse detected/);
    await store.rotate(someoneElse.token);
  });

  it('purges only sessions whose every token has expired', async (t) => {
    const { store, pool, advance } = await setUp(t);
    const idle = await store.issue('user-1', 'acme');
    const active = await store.issue('user-2', 'acme');
    advance(20 * day);
    const renewed = await store.rotate(active.token);
    advance(15 * day);
    assert.equal(await store.purgeExpired(), 1);
    const families = await pool.manyFirst(sql.type(z.object({ family_id: z.string() }))`
      select distinct family_id::text from auth.refresh_tokens`);
    assert.deepEqual(families, [active.familyId]);
    assert.notEqual(idle.familyId, active.familyId);
    await store.rotate(renewed.token);
  });
});
