import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { z } from 'zod';
import { sql } from './database.ts';
import { declaredObjects, runMigrations, runPlatformMigrations } from './migrations.ts';
import { createTestDatabase } from './testing/testDatabase.ts';

describe('migrations check their objects, not only the bookkeeping', () => {
  it('declares what a set leaves behind: created, minus dropped, renamed', () => {
    const declared = declaredObjects([
      {
        name: '001.sql',
        text: 'create schema if not exists s;\ncreate table s.a (id int);\ncreate table s.b (id int);',
      },
      {
        name: '002.sql',
        text: '-- create table s.ignored (x int)\ndrop table s.b;\nalter table s.a rename to c;',
      },
    ]);
    assert.deepEqual(declared.get('001.sql'), { schemas: ['s'], tables: [] });
    assert.deepEqual(declared.get('002.sql'), { schemas: [], tables: ['s.c'] });
  });

  it('applies a set again when its schema was dropped, and records its objects', async (t) => {
    const { pool, url } = await createTestDatabase(t);
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await writeFile(join(dir, '001_create.sql'), 'create schema if not exists m; create table m.t (id int);');
    await writeFile(join(dir, '002_more.sql'), 'create table m.u (id int); insert into m.t values (2);');
    assert.deepEqual(await runMigrations(url, 'test', dir), ['001_create.sql', '002_more.sql']);
    assert.deepEqual(await runMigrations(url, 'test', dir), [], 'nothing again while the objects are there');
    const objects = await pool.oneFirst(
      sql.type(z.object({ objects: z.array(z.string()) }))`
        select objects from public.schema_migrations where component = 'test' and name = '002_more.sql'`,
    );
    assert.deepEqual(objects, ['m.u']);

    await pool.query(sql.unsafe`drop schema m cascade`);
    assert.deepEqual(await runMigrations(url, 'test', dir), ['001_create.sql', '002_more.sql']);
    const ids = await pool.manyFirst(sql.type(z.object({ id: z.number() }))`select id from m.t`);
    assert.deepEqual(ids, [2]);

    // Only a later file's table is gone: that file alone runs again.
    await pool.query(sql.unsafe`drop table m.u`);
    assert.deepEqual(await runMigrations(url, 'test', dir), ['002_more.sql']);
  });

  it('fails naming the missing objects when applying again cannot work', async (t) => {
    const { pool, url } = await createTestDatabase(t);
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await writeFile(
      join(dir, '001_create.sql'),
      'create schema n; create table n.a (id int); create table n.b (id int);',
    );
    await runMigrations(url, 'test', dir);
    await pool.query(sql.unsafe`drop table n.b`);
    await assert.rejects(runMigrations(url, 'test', dir), (error: Error) => {
      assert.match(
        error.message,
        /001_create\.sql was applied but its objects are gone \(001_create\.sql: n\.b\)/,
      );
      return true;
    });
  });
});

/** The write API's `003_sign_in_throttle.sql` and `004_rate_limit_buckets_unlogged.sql`, as they were applied before platform/ owned the tables. */
const writeApiRequestLimits = `
  create schema if not exists auth;
  create table auth.sign_in_throttle (
    key text primary key,
    failures int not null check (failures >= 0),
    last_attempt_ms bigint not null,
    blocked_until_ms bigint
  );
  create index sign_in_throttle_last_attempt on auth.sign_in_throttle (last_attempt_ms);
  create table auth.rate_limit_buckets (
    key text primary key,
    tokens float8 not null,
    updated_ms bigint not null,
    allowed boolean not null
  );
  create index rate_limit_buckets_updated on auth.rate_limit_buckets (updated_ms);`;

const persistence = z.object({ name: z.string(), persistence: z.string() });

describe("platform's migration set (sign-in throttle, rate-limit buckets)", () => {
  it('creates both tables on a fresh database, the buckets unlogged, once', async (t) => {
    const { pool, url } = await createTestDatabase(t);
    assert.deepEqual(await runPlatformMigrations(url), ['001_request_limits.sql']);
    assert.deepEqual(await runPlatformMigrations(url), []);
    const tables = await pool.many(sql.type(persistence)`
      select relname as name, relpersistence as persistence from pg_class
      where oid in ('auth.sign_in_throttle'::regclass, 'auth.rate_limit_buckets'::regclass) order by relname`);
    assert.deepEqual(tables, [
      { name: 'rate_limit_buckets', persistence: 'u' },
      { name: 'sign_in_throttle', persistence: 'p' },
    ]);
  });

  it("takes over the tables the write API's migrations made, keeping their rows", async (t) => {
    const { pool, url } = await createTestDatabase(t);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(writeApiRequestLimits);
    await client.end();
    await pool.query(sql.unsafe`insert into auth.sign_in_throttle values ('address:1', 4, 1000, 9000)`);
    await pool.query(
      sql.unsafe`insert into auth.rate_limit_buckets values ('read:tenant:a', 7.5, 1000, true)`,
    );
    assert.deepEqual(await runPlatformMigrations(url), ['001_request_limits.sql']);
    assert.deepEqual(
      await pool.many(
        sql.unsafe`select key, failures, blocked_until_ms::int as blocked from auth.sign_in_throttle`,
      ),
      [{ key: 'address:1', failures: 4, blocked: 9000 }],
    );
    assert.deepEqual(await pool.many(sql.unsafe`select key, tokens from auth.rate_limit_buckets`), [
      { key: 'read:tenant:a', tokens: 7.5 },
    ]);
    // A table the write API's 003 made without its 004 is unlogged now, as a fresh one is.
    const buckets = await pool.one(sql.type(persistence)`
      select relname as name, relpersistence as persistence from pg_class
      where oid = 'auth.rate_limit_buckets'::regclass`);
    assert.equal(buckets.persistence, 'u');
  });
});
