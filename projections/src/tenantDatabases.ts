import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool, sql, type DatabasePool } from '@deeplens/platform/database';
import { tenantSchemaBase } from './metadataSchema.ts';
import type { Transaction } from './projection.ts';

/**
 * Enterprise tenants' dedicated metadata databases (docs/projections.md, "A dedicated database
 * per tenant"): their names, their creation and removal on a configured server, and the bounded
 * set of pools that reads and the projector use to reach them.
 */

export type TenantDatabaseConfig = Pick<Config, 'DATABASE_URL' | 'TENANT_DATABASE_URLS'>;

/** Where a dedicated tenant's read model lives: a configured server's name and the database. */
export type TenantDatabase = { target: string; database: string };

export type TenantDatabasesOptions = {
  /** Pools open at once; the least recently used closes first. */
  maxPools?: number;
  /** Connections per pool. */
  poolSize?: number;
  /** A pool unused this long is closed. */
  idleMs?: number;
};

export type TenantDatabases = {
  /** The database of a tenant in a generation of the metadata projection. */
  nameOf(tenantId: string, generation: number): string;
  /** Whether this installation can reach the server `target` names. */
  hasTarget(target: string): boolean;
  /** Creates the database if it does not exist (idempotent, safe against a concurrent creator). */
  ensure(at: TenantDatabase): Promise<void>;
  /** Whether the database exists. */
  exists(at: TenantDatabase): Promise<boolean>;
  /** Drops the database if it exists, closing every connection to it. */
  drop(at: TenantDatabase): Promise<void>;
  /** Drops every dedicated database of `generation` on every configured server; answers their names. */
  dropGeneration(generation: number): Promise<string[]>;
  /** Every dedicated database of this installation, on every configured server (tests, tools). */
  list(): Promise<TenantDatabase[]>;
  /** Drops every dedicated database of this installation (a test's cleanup). */
  dropAll(): Promise<string[]>;
  /** A pool on the database (opened on first use, closed when idle or evicted). */
  pool(at: TenantDatabase): Promise<DatabasePool>;
  /** Runs `work` in one transaction of the database. */
  transaction<T>(at: TenantDatabase, work: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Closes the pool of a database that answered it is gone, so the next use opens afresh. */
  forget(at: TenantDatabase): Promise<void>;
  close(): Promise<void>;
};

/** PostgreSQL's answer when a database does not exist, or was dropped under a connection. */
export function isMissingDatabase(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (code === '3D000' || code === '57P01') return true;
    if (e instanceof Error && /database "[^"]+" does not exist/.test(e.message)) return true;
  }
  return false;
}

function databaseOfUrl(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
}

function withDatabase(url: string, database: string): string {
  const next = new URL(url);
  next.pathname = `/${database}`;
  return next.toString();
}

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

export function createTenantDatabases(
  config: TenantDatabaseConfig,
  options: TenantDatabasesOptions = {},
): TenantDatabases {
  const maxPools = options.maxPools ?? 32;
  const poolSize = options.poolSize ?? 4;
  const idleMs = options.idleMs ?? 60_000;
  // Names are bound to the shared database, so two installations (or test runs) on one server
  // never meet: `dl<8 hex>_<32 hex of the tenant>_g<generation>`, at most 63 characters.
  const prefix = `dl${createHash('sha256').update(databaseOfUrl(config.DATABASE_URL)).digest('hex').slice(0, 8)}`;
  const pools = new Map<string, { pool: Promise<DatabasePool>; usedAt: number }>();

  function serverUrl(target: string): string {
    if (target === 'default') return config.DATABASE_URL;
    const url = Object.hasOwn(config.TENANT_DATABASE_URLS, target)
      ? config.TENANT_DATABASE_URLS[target]
      : undefined;
    if (!url) throw new Error(`No database server named ${target} is configured (TENANT_DATABASE_URLS)`);
    return url;
  }

  async function connectAdmin(target: string): Promise<pg.Client> {
    const url = serverUrl(target);
    for (const connectionString of [url, withDatabase(url, 'postgres')]) {
      const client = new pg.Client({ connectionString });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return client;
      } catch (error) {
        await client.end().catch(() => undefined);
        // The URL's own database is gone (a test's, dropped first): the maintenance one will do.
        if (!isMissingDatabase(error) || connectionString !== url) throw error;
      }
    }
    throw new Error('unreachable');
  }

  async function withAdmin<T>(target: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await connectAdmin(target);
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  const keyOf = (at: TenantDatabase) => `${at.target}/${at.database}`;

  async function closePool(key: string): Promise<void> {
    const entry = pools.get(key);
    if (!entry) return;
    pools.delete(key);
    await (await entry.pool.catch(() => undefined))?.end().catch(() => undefined);
  }

  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [key, entry] of pools) if (now - entry.usedAt > idleMs) void closePool(key);
    },
    Math.min(idleMs, 15_000),
  );
  sweeper.unref();

  async function pool(at: TenantDatabase): Promise<DatabasePool> {
    const key = keyOf(at);
    let entry = pools.get(key);
    if (!entry) {
      while (pools.size >= maxPools) {
        const oldest = [...pools].sort(([, a], [, b]) => a.usedAt - b.usedAt)[0]!;
        await closePool(oldest[0]);
      }
      const opened = createDatabasePool(
        { DATABASE_URL: withDatabase(serverUrl(at.target), at.database), DATABASE_POOL_SIZE: poolSize },
        // Written inside the shared database's transaction (docs/projections.md).
        { maximumPoolSize: poolSize, dangerouslyAllowForeignConnections: true },
      );
      entry = { pool: opened, usedAt: Date.now() };
      pools.set(key, entry);
      opened.catch(() => pools.get(key) === entry && pools.delete(key));
    }
    entry.usedAt = Date.now();
    return entry.pool;
  }

  const anyGeneration = new RegExp(`^${prefix}_[0-9a-f]{32}_g[0-9]+$`);

  async function listMatching(pattern: RegExp): Promise<TenantDatabase[]> {
    const found: TenantDatabase[] = [];
    for (const target of ['default', ...Object.keys(config.TENANT_DATABASE_URLS)]) {
      const names = await withAdmin(target, async (client) =>
        (await client.query<{ datname: string }>('select datname from pg_database')).rows.map(
          (r) => r.datname,
        ),
      );
      found.push(...names.filter((n) => pattern.test(n)).map((database) => ({ target, database })));
    }
    return found;
  }

  async function drop(at: TenantDatabase): Promise<void> {
    await closePool(keyOf(at));
    await withAdmin(at.target, (client) =>
      client.query(`drop database if exists ${quoted(at.database)} with (force)`),
    );
  }

  async function dropMatching(pattern: RegExp): Promise<string[]> {
    const found = await listMatching(pattern);
    for (const at of found) await drop(at);
    return found.map((at) => at.database);
  }

  return {
    nameOf(tenantId, generation) {
      return `${prefix}_${tenantSchemaBase(tenantId).slice('tenant_'.length)}_g${generation}`;
    },
    hasTarget(target) {
      return target === 'default' || Object.hasOwn(config.TENANT_DATABASE_URLS, target);
    },
    async ensure(at) {
      await withAdmin(at.target, async (client) => {
        for (let attempt = 1; ; attempt++) {
          const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [
            at.database,
          ]);
          if (rowCount) return;
          try {
            // Not transactional: it either exists afterwards or not at all.
            await client.query(`create database ${quoted(at.database)}`);
            return;
          } catch (error) {
            const code = (error as { code?: string }).code;
            if (code === '42P04') return; // created by a concurrent writer
            // Two creations copying template1 at once: the second one waits its turn.
            if (code !== '55006' || attempt >= 20) throw error;
            await sleep(100 * attempt);
          }
        }
      });
    },
    async exists(at) {
      return withAdmin(at.target, async (client) => {
        const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [
          at.database,
        ]);
        return (rowCount ?? 0) > 0;
      });
    },
    drop,
    async dropGeneration(generation) {
      return dropMatching(new RegExp(`^${prefix}_[0-9a-f]{32}_g${generation}$`));
    },
    list: () => listMatching(anyGeneration),
    dropAll: () => dropMatching(anyGeneration),
    pool,
    async transaction(at, work) {
      return (await pool(at)).transaction(work);
    },
    async forget(at) {
      await closePool(keyOf(at));
    },
    async close() {
      clearInterval(sweeper);
      await Promise.all([...pools.keys()].map(closePool));
    },
  };
}

/**
 * The bookkeeping a dedicated database holds beside the tenant's schema: its own checkpoints,
 * moved in the same transaction as its rows (exactly once per database).
 */
export async function ensureDedicatedCheckpoints(tx: Transaction): Promise<void> {
  await tx.query(sql.typeAlias('void')`create schema if not exists deeplens`);
  await tx.query(sql.typeAlias('void')`
    create table if not exists deeplens.checkpoints (
      topic text not null,
      partition int not null,
      "offset" bigint not null,
      primary key (topic, partition)
    )`);
}
