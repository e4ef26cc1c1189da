import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SchemaValidationError } from 'slonik';
import { z } from 'zod';
import { sql } from './database.ts';
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
        assert.match(JSON.stringify(error.issues), /Expected string, received number/);
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
});
