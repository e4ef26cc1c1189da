import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { loadConfig, type Config } from '../config.ts';
import { createDatabasePool, type DatabasePool } from '../database.ts';

export interface TestDatabase {
  /** The configuration with `DATABASE_URL` pointing at the fresh database. */
  config: Config;
  url: string;
  pool: DatabasePool;
}

/**
 * A fresh, empty PostgreSQL database on the stack's server for one test (or suite); it is
 * dropped when the test ends.
 */
export async function createTestDatabase(
  t: Pick<TestContext, 'after'>,
  base: Config = loadConfig(),
): Promise<TestDatabase> {
  const name = `test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base.DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base.DATABASE_URL);
  url.pathname = `/${name}`;
  const config: Config = { ...base, DATABASE_URL: url.toString() };
  const pool = await createDatabasePool(config, { maximumPoolSize: 4 });
  t.after(async () => {
    await pool.end();
    const cleanup = new pg.Client({ connectionString: base.DATABASE_URL });
    try {
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
    } catch {
      // The server is gone already (a private stack torn down first): so is the database.
    } finally {
      await cleanup.end().catch(() => undefined);
    }
  });
  return { config, url: config.DATABASE_URL, pool };
}
