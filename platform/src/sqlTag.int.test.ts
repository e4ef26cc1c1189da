import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SchemaValidationError } from 'slonik';
import { z } from 'zod';
import { sql } from './database.ts';
import { createTestDatabase } from './testing/testDatabase.ts';

describe("the project's sql tag", () => {
  it("runs statements typed 'void' and refuses one that answers a row", async (t) => {
    const { pool } = await createTestDatabase(t);
    await pool.query(sql.typeAlias('void')`create table t (id int primary key)`);
    const inserted = await pool.query(sql.typeAlias('void')`insert into t values (1), (2)`);
    assert.equal(inserted.rowCount, 2, 'a write without rows still reports what it changed');
    await pool.query(sql.typeAlias('void')`select from pg_advisory_xact_lock(42)`);
    await assert.rejects(
      pool.query(sql.typeAlias('void')`delete from t where id = 1 returning id`),
      (error: unknown) => {
        assert.ok(error instanceof SchemaValidationError, String(error));
        assert.match(JSON.stringify(error.issues), /unrecognized_keys/);
        return true;
      },
      "a 'void' statement that answers a row with a column is refused",
    );
  });

  it('refuses a sql.type row of the wrong shape', async (t) => {
    const { pool } = await createTestDatabase(t);
    const row = z.object({ id: z.number(), label: z.string() });
    await assert.rejects(
      pool.one(sql.type(row)`select 1::int8 as id, null::text as label`),
      (error: unknown) => {
        assert.ok(error instanceof SchemaValidationError, String(error));
        assert.match(JSON.stringify(error.issues), /"label"/);
        return true;
      },
      'a null where the row says string is refused',
    );
    assert.deepEqual(await pool.one(sql.type(row)`select 1::int8 as id, 'a' as label`), {
      id: 1,
      label: 'a',
    });
  });
});
