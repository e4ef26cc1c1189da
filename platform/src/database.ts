import { createPool, createTypeParserPreset, sql, type DatabasePool } from 'slonik';
import type { Config } from './config.ts';

export { sql };
export type { DatabasePool };

/**
 * A slonik pool. Type parsers keep `int8` as JS numbers (our counters and offsets stay far
 * below 2^53) and timestamps as epoch milliseconds.
 */
export async function createDatabasePool(
  config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'>,
  options: { maximumPoolSize?: number } = {},
): Promise<DatabasePool> {
  return createPool(config.DATABASE_URL, {
    maximumPoolSize: options.maximumPoolSize ?? config.DATABASE_POOL_SIZE,
    connectionTimeout: 5_000,
    statementTimeout: 60_000,
    // slonik's default runs `DISCARD ALL` after every release: a second round trip (and
    // transaction) per query and PostgreSQL's cached plans dropped. DeepLens keeps no session
    // state on pooled connections (session locks and LISTEN use their own clients).
    resetConnection: () => Promise.resolve(),
    typeParsers: [
      ...createTypeParserPreset().filter((p) => p.name !== 'int8' && p.name !== 'timestamptz'),
      { name: 'int8', parse: (value) => Number.parseInt(value, 10) },
      { name: 'timestamptz', parse: (value) => Date.parse(value) },
    ],
  });
}
