import {
  createPool,
  createSqlTag,
  createTypeParserPreset,
  SchemaValidationError,
  type DatabasePool,
  type Interceptor,
  type QueryResultRow,
} from 'slonik';
import { z } from 'zod';
import type { Config } from './config.ts';

export type { DatabasePool };

/**
 * The row types every package shares, named once. `void`: a statement that answers no rows
 * (DDL, an insert/update/delete without `returning`) or only rows without columns (`select
 * from pg_advisory_xact_lock(...)`); a row with a column is refused by the interceptor.
 */
export const sqlTypeAliases = {
  void: z.object({}).strict(),
};

/**
 * The project's `sql` tag: slonik's, with {@link sqlTypeAliases}. A query is typed with
 * `sql.type(zodRow)` or `sql.typeAlias('void')`; `sql.unsafe` is kept only where no row type
 * can exist, with a comment saying why.
 */
export const sql = createSqlTag({ typeAliases: sqlTypeAliases });

/**
 * Checks every row of a `sql.type(schema)` query against its zod schema at run time and
 * answers the parsed row (defaults and transforms applied, unknown columns dropped). A row
 * that does not match throws slonik's `SchemaValidationError`, naming the query and the
 * issues: the types a query claims are then facts, not hopes. `sql.unsafe` rows pass as they
 * are.
 */
export const resultParserInterceptor: Interceptor = {
  name: 'deeplens-result-parser',
  transformRow: (context, query, row) => {
    const parser = context.resultParser;
    if (!parser) return row;
    // slonik 49 carries the row type as a Standard Schema (our zod rows); they parse synchronously.
    const parsed = parser['~standard'].validate(row);
    if (parsed instanceof Promise) throw new TypeError('a row schema must parse synchronously');
    if (parsed.issues) throw new SchemaValidationError(query, row, parsed.issues);
    return parsed.value as QueryResultRow;
  },
};

/**
 * A slonik pool. Type parsers keep `int8` as JS numbers (our counters and offsets stay far
 * below 2^53) and timestamps as epoch milliseconds.
 */
export async function createDatabasePool(
  config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'>,
  options: {
    maximumPoolSize?: number;
    /**
     * Lets this pool run queries while a transaction of ANOTHER pool is open in the same async
     * context (slonik refuses it by default): a second database written deliberately beside the
     * first, as the metadata projection does with a tenant's dedicated database.
     */
    dangerouslyAllowForeignConnections?: boolean;
  } = {},
): Promise<DatabasePool> {
  const maximumPoolSize = options.maximumPoolSize ?? config.DATABASE_POOL_SIZE;
  const pool = await createPool(config.DATABASE_URL, {
    maxPoolSize: maximumPoolSize,
    dangerouslyAllowForeignConnections: options.dangerouslyAllowForeignConnections ?? false,
    connectionTimeout: 5_000,
    statementTimeout: 60_000,
    // slonik's default runs `DISCARD ALL` after every release: a second round trip (and
    // transaction) per query and PostgreSQL's cached plans dropped. DeepLens keeps no session
    // state on pooled connections (session locks and LISTEN use their own clients).
    resetConnection: () => Promise.resolve(),
    interceptors: [resultParserInterceptor],
    typeParsers: [
      ...createTypeParserPreset().filter((p) => p.name !== 'int8' && p.name !== 'timestamptz'),
      { name: 'int8', parse: (value) => Number.parseInt(value, 10) },
      { name: 'timestamptz', parse: (value) => Date.parse(value) },
    ],
  });
  return withQueueKeeper(pool, maximumPoolSize);
}

/** How often a pool's queue is checked for clients nobody will serve. */
const queueKeeperIntervalMs = 1_000;

/**
 * slonik (47) hands a queued client a connection only when a pooled connection is released or
 * destroyed. When every connection dies at once (PostgreSQL restarting) and reconnecting fails
 * for the first clients in the queue, the rest wait for ever: no connection is left to release,
 * and a process whose work is all in that queue never asks for another (the embedder stopped
 * for good after a PostgreSQL restart). The keeper notices clients waiting while the pool has
 * room, or an idle connection, and runs a trivial query: its connection, once released, serves
 * the queue again, one client after another.
 */
export function withQueueKeeper(pool: DatabasePool, maximumPoolSize: number): DatabasePool {
  let kicking = false;
  const keeper = setInterval(() => {
    const state = pool.state();
    if (kicking || state.state !== 'ACTIVE' || state.waitingClients === 0) return;
    const open =
      state.acquiredConnections +
      state.idleConnections +
      state.pendingConnections +
      state.pendingReleaseConnections +
      state.pendingDestroyConnections;
    if (open >= maximumPoolSize && state.idleConnections === 0) return;
    kicking = true;
    pool
      .query(sql.typeAlias('void')`select`) // a liveness query: one row without columns
      .catch(() => undefined)
      .finally(() => (kicking = false));
  }, queueKeeperIntervalMs);
  keeper.unref();
  const end = pool.end.bind(pool);
  return Object.assign(pool, {
    end: async () => {
      clearInterval(keeper);
      await end();
    },
  });
}
