import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { sql } from './database.ts';
import { declaredObjects, runMigrations } from './migrations.ts';
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
