import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import pg from 'pg';
import { SchemaValidationError } from 'slonik';
import { z } from 'zod';
import { createDatabasePool, sql } from './database.ts';
import { runMigrations } from './migrations.ts';
import { createTestDatabase } from './testing/testDatabase.ts';

describe('PostgreSQL through slonik', () => {
  it('runs typed queries and transactions', async (t) => {
    const { pool } = await createTestDatabase(t);
    const row = await pool.one(sql.type(z.object({ answer: z.number(), version: z.string() }))`
      select 42::int8 as answer, current_setting('server_version') as version`);
    assert.equal(row.answer, 42);
    assert.match(row.version, /^15\./);

    await pool.query(sql.unsafe`create table t (id int primary key)`);
    await assert.rejects(
      pool.transaction(async (tx) => {
        await tx.query(sql.unsafe`insert into t values (1)`);
        await tx.query(sql.unsafe`insert into t values (1)`);
      }),
    );
    assert.equal(
      await pool.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int8 as n from t`),
      0,
    );
  });

  it('checks every typed row against its schema at run time', async (t) => {
    const { pool } = await createTestDatabase(t);
    await assert.rejects(
      pool.one(sql.type(z.object({ answer: z.string() }))`select 42::int8 as answer`),
      (error: unknown) => {
        assert.ok(error instanceof SchemaValidationError, String(error));
        assert.match(JSON.stringify(error.issues), /expected string, received number/i);
        return true;
      },
      'a number where the schema says string is refused',
    );
    const row = await pool.one(
      sql.type(
        z.object({ answer: z.number().transform((n) => n * 2), label: z.string().default('none') }),
      )`select 21::int8 as answer, null::text as ignored`,
    );
    assert.deepEqual(
      row,
      { answer: 42, label: 'none' },
      'the parsed row: transforms, defaults, no extra columns',
    );
    assert.deepEqual(
      await pool.one(sql.unsafe`select 1 as one, 'x' as other`),
      { one: 1, other: 'x' },
      'sql.unsafe rows pass as they are',
    );
  });

  it('applies migrations in order, once', async (t) => {
    const { pool, url } = await createTestDatabase(t);
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await writeFile(join(dir, '001_create.sql'), 'create table m (id int); insert into m values (1);');
    await writeFile(join(dir, '002_more.sql'), 'insert into m values (2);');

    assert.deepEqual(await runMigrations(url, 'test', dir), ['001_create.sql', '002_more.sql']);
    assert.deepEqual(await runMigrations(url, 'test', dir), []);
    const ids = await pool.manyFirst(sql.type(z.object({ id: z.number() }))`select id from m order by id`);
    assert.deepEqual(ids, [1, 2]);
  });

  it(
    'serves every queued client after all its connections died and reconnecting failed for a while',
    { timeout: 60_000 },
    async (t) => {
      const { config } = await createTestDatabase(t);
      const name = new URL(config.DATABASE_URL).pathname.slice(1);
      const pool = await createDatabasePool(config, { maximumPoolSize: 2 });
      t.after(() => pool.end());
      const admin = new pg.Client({ connectionString: config.DATABASE_URL.replace(`/${name}`, '/postgres') });
      await admin.connect();
      t.after(async () => {
        await admin.query(`alter database ${name} allow_connections true`).catch(() => undefined);
        await admin.end();
      });

      // Both connections busy, six clients queued behind them.
      const settled: string[] = [];
      const calls = [
        ...[1, 2].map(() => pool.query(sql.unsafe`select pg_sleep(30)`)),
        ...[1, 2, 3, 4, 5, 6].map(() => pool.query(sql.unsafe`select 1`)),
      ].map((call, i) =>
        call.then(
          () => void settled.push(`ok ${i}`),
          () => void settled.push(`failed ${i}`),
        ),
      );
      while (pool.state().waitingClients < 6 || pool.state().acquiredConnections < 2) await sleep(20);

      // PostgreSQL drops every connection and refuses new ones for a moment (a restart): the
      // busy clients fail, and so do the queued ones slonik tries to reconnect for; the rest
      // stay queued with no connection left in the pool.
      await admin.query(`alter database ${name} allow_connections false`);
      await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
        [name],
      );
      const stranded = () => {
        const state = pool.state();
        return state.acquiredConnections + state.pendingConnections === 0 && state.waitingClients > 0;
      };
      while (settled.length < 2 || !stranded()) await sleep(20);
      await sleep(300);
      await admin.query(`alter database ${name} allow_connections true`);

      const deadline = Date.now() + 20_000;
      while (settled.length < calls.length && Date.now() < deadline) await sleep(50);
      assert.equal(
        settled.length,
        calls.length,
        `every client answered: ${settled.join(', ')}; ${JSON.stringify(pool.state())}`,
      );
      assert.ok(
        settled.includes('ok 7'),
        `the last queued client ran once the server was back: ${settled.join(', ')}`,
      );
    },
  );
});
