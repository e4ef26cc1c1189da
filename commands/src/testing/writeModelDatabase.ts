import type { TestContext } from 'node:test';
import { runMigrations } from '@deeplens/platform/migrations';
import { createTestDatabase, type TestDatabase } from '@deeplens/platform/testing/testDatabase';
import { writeModelMigrations } from '../commandHandler.ts';

/** A fresh database with the write model's schema, dropped when the test ends. */
export async function createWriteModelDatabase(t: Pick<TestContext, 'after'>): Promise<TestDatabase> {
  const database = await createTestDatabase(t);
  await runMigrations(database.url, 'write-model', writeModelMigrations);
  return database;
}
