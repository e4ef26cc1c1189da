import { sql, type DatabasePool } from '@deeplens/platform/database';

/** The channel the outbox relay listens on. */
export const outboxChannel = 'deeplens_outbox';

export type OutboxSignal = {
  /** Events were committed to the outbox: wake the relay (coalesced, never throws). */
  appended(): void;
};

/**
 * Wakes the relay with one NOTIFY after commits, outside their transactions: a NOTIFY inside a
 * transaction holds a database-wide lock until its commit is on disk, which serialised every
 * writer. Calls in the same turn of the event loop share one NOTIFY. A lost signal costs only
 * latency: the relay also polls.
 */
export function createOutboxSignal(pool: Pick<DatabasePool, 'query'>): OutboxSignal {
  let pending = false;
  return {
    appended() {
      if (pending) return;
      pending = true;
      setImmediate(() => {
        pending = false;
        pool.query(sql.typeAlias('void')`select from pg_notify(${outboxChannel}, '')`).catch(() => undefined);
      });
    },
  };
}
