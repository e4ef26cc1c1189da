import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { sql } from '../database.ts';
import { runMigrations } from '../migrations.ts';
import { createTestDatabase } from '../testing/testDatabase.ts';
import {
  createCredentialCache,
  credentialChannel,
  defaultBoundMs,
  type CredentialCache,
} from './credentialCache.ts';

const writeModelMigrations = join(import.meta.dirname, '..', '..', '..', 'commands', 'migrations');

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** A write model (with its change triggers) and a live cache on it. */
async function setUp(t: TestContext) {
  const db = await createTestDatabase(t);
  await runMigrations(db.url, 'write-model', writeModelMigrations);
  const cache = createCredentialCache({ databaseUrl: db.url, pool: db.pool });
  t.after(() => cache.close());
  await until('the change signal is live', () => cache.live());
  const write = (type: string, id: string) =>
    db.pool.query(sql.unsafe`
      insert into write.aggregates (aggregate_type, aggregate_id, tenant_id, version, state)
      values (${type}, ${id}, ${id}, 1, '{"status": "active"}')
      on conflict (aggregate_type, aggregate_id) do update set version = write.aggregates.version + 1,
        state = jsonb_build_object('status', 'suspended')`);
  return { db, cache, write };
}

/** A load that counts its calls and answers the count. */
function counted() {
  let calls = 0;
  return {
    load: () => Promise.resolve(++calls),
    calls: (): number => calls,
  };
}

/**
 * Until the cache has certainly seen a change committed before this call: answers are served
 * from memory only while a heartbeat sent less than the bound ago has come back, and
 * PostgreSQL delivers notifications in commit order — so once the bound has passed and the
 * cache is live again, a heartbeat sent after the change came back after the change's notice.
 */
async function changeSeen(cache: CredentialCache) {
  await sleep(defaultBoundMs + 50);
  await until('the cache live again', () => cache.live());
}

describe('credential cache emptied by the write model’s change announcements', () => {
  it('reuses a look-up until a tenant, user or API key changes, and ignores image writes', async (t) => {
    const { cache, write } = await setUp(t);
    const key = counted();
    // While live, the look-up is served from memory (a loaded machine may delay a heartbeat).
    const hit = async () => {
      await until('the change signal is live', () => cache.live());
      return cache.get('k', key.load);
    };
    assert.equal(await hit(), 1);
    assert.equal(await hit(), 1);
    assert.equal(key.calls(), 1);

    // An image aggregate is not a credential: its writes (every upload) announce nothing.
    await write('image', 'i1');
    await sleep(300);
    assert.equal(await hit(), 1);

    for (const [type, id] of [
      ['tenant', 't1'],
      ['user', 'u1'],
      ['apiKey', 'a1'],
      ['tenant', 't1'],
    ] as const) {
      const before = key.calls();
      const committed = performance.now();
      await write(type, id);
      await until(`${type} change honoured`, async () => (await hit()) > before);
      const took = performance.now() - committed;
      t.diagnostic(`${type} write: cache emptied ${took.toFixed(1)} ms after its commit`);
      assert.equal(key.calls(), before + 1);
    }
  });

  it('forgets every remembered answer at once when told (the process that made the change)', async (t) => {
    const { cache } = await setUp(t);
    const key = counted();
    // Remembered: two look-ups in a row answer the same (a heartbeat late on a loaded machine
    // makes the second a fresh one: then again).
    let remembered: number;
    do {
      await until('the change signal is live', () => cache.live());
      remembered = await cache.get('k', key.load);
    } while ((await cache.get('k', key.load)) !== remembered);
    // No write, so no notification is on its way: only forget() can empty it.
    cache.forget();
    assert.ok((await cache.get('k', key.load)) > remembered);
  });

  it('answers a look-up that began before a change but does not remember it', async (t) => {
    const { cache, write } = await setUp(t);
    let calls = 0;
    let release!: (value: string) => void;
    const slow = () => {
      calls++;
      return calls === 1 ? new Promise<string>((resolve) => (release = resolve)) : Promise.resolve('fresh');
    };
    const first = cache.get('k', slow);
    await write('apiKey', 'a1');
    await changeSeen(cache);
    release('stale');
    assert.equal(await first, 'stale');
    assert.equal(await cache.get('k', slow), 'fresh');
    assert.equal(calls, 2);
  });

  it('looks every request up afresh while the signal is down, and caches again once it is back', async (t) => {
    const { db, cache } = await setUp(t);
    const key = counted();
    for (let i = 0; i < 2; i++) {
      await until('the change signal is live', () => cache.live());
      await cache.get('k', key.load);
    }
    assert.equal(key.calls(), 1);
    await db.pool.query(sql.unsafe`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and query = ${`listen ${credentialChannel}`}`);
    await until('the lost listener noticed', () => !cache.live());
    await cache.get('k', key.load);
    await cache.get('k', key.load);
    assert.equal(key.calls(), 3, 'no answer is reused without the signal');
    const back = key.calls();
    for (let i = 0; i < 2; i++) {
      await until('the listener back', () => cache.live());
      await cache.get('k', key.load);
    }
    assert.equal(
      key.calls(),
      back + 1,
      'what was remembered before the outage is forgotten, then cached again',
    );
  });

  it('serves nothing from memory when heartbeats stop coming back within the bound', async (t) => {
    const db = await createTestDatabase(t);
    await runMigrations(db.url, 'write-model', writeModelMigrations);
    // Heartbeats far apart: after one confirmation, the bound passes before the next.
    const cache = createCredentialCache({
      databaseUrl: db.url,
      pool: db.pool,
      boundMs: 200,
      heartbeatMs: 2_000,
    });
    t.after(() => cache.close());
    await until('the change signal is live', () => cache.live());
    await until('the bound passed since the last heartbeat', () => !cache.live());
    const key = counted();
    await cache.get('k', key.load);
    await cache.get('k', key.load);
    assert.equal(key.calls(), 2);
  });
  it('sends no heartbeat while nobody asks, and is live again soon after the next question', async (t) => {
    const db = await createTestDatabase(t);
    await runMigrations(db.url, 'write-model', writeModelMigrations);
    const cache = createCredentialCache({ databaseUrl: db.url, pool: db.pool, idleAfterMs: 300 });
    t.after(() => cache.close());
    await until('the change signal is live', () => cache.live());
    const pings: number[] = [];
    const observer = new pg.Client({ connectionString: db.url });
    // The test database is dropped when the test ends, possibly before this session ends.
    observer.on('error', () => undefined);
    await observer.connect();
    t.after(() => observer.end().catch(() => undefined));
    observer.on('notification', (message) => {
      if (message.payload?.startsWith('ping:')) pings.push(performance.now());
    });
    await observer.query(`listen ${credentialChannel}`);
    // Nobody asks: past idleAfterMs (and a heartbeat still on its way) the heartbeats stop.
    await sleep(300 + 200);
    const quietFrom = performance.now();
    await sleep(1_000);
    assert.equal(pings.filter((at) => at > quietFrom).length, 0, 'no heartbeat while idle');
    assert.equal(cache.live(), false, 'not live on the last heartbeat, which is older than the bound');
    // The question itself sends one; the answers are served from memory again once it is back.
    await until('live again after being asked', () => cache.live());
    assert.ok(
      pings.some((at) => at > quietFrom),
      'a heartbeat was sent when asked',
    );
  });
});
