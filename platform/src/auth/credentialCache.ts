import pg from 'pg';
import { sql, type DatabasePool } from '../database.ts';

/**
 * The channel PostgreSQL announces credential changes on: the write model's triggers
 * (`commands/migrations/004_credential_changes.sql` and `005_sessions.sql`) notify it when a
 * tenant, user or API key aggregate changes or a session's refresh tokens are revoked; the
 * caches' own heartbeats travel on it too (payload `ping:…`).
 */
export const credentialChannel = 'deeplens_credentials';

/** What both APIs' authentication reads per request, remembered until the write model changes. */
export type CredentialCache = {
  /**
   * `load()`'s answer for `key`, loaded once and reused while the change signal is live and no
   * change was announced since the load began; loaded afresh (not remembered) while the signal
   * is not live. A failed load is not remembered.
   */
  get<T>(key: string, load: () => Promise<T>): Promise<T>;
  /** Whether answers are served from memory now (the signal confirmed within `boundMs`). */
  live(): boolean;
  /**
   * Forgets every remembered answer at once: the process that itself committed a credential
   * change calls it before answering (the write API listens to its command handler's
   * `credentialChanges`), so its own next request never waits for the notification. A plain
   * function, the same one every time, so it may be handed over as a listener.
   */
  readonly forget: () => void;
  close(): Promise<void>;
};

/** How stale a remembered answer may be at worst, by default (within the 500 ms revocation bound). */
export const defaultBoundMs = 400;

export type CredentialCacheOptions = {
  /** Where the write model lives: the listening session is a client of its own. */
  databaseUrl: string;
  /** Sends the heartbeats (a separate session, so they are ordered with other commits). */
  pool: DatabasePool;
  /**
   * How stale a remembered answer may be at worst: remembered answers are used only while a
   * heartbeat sent less than this long ago has come back on the channel. 400 ms by default,
   * within the 500 ms revocation bound of `docs/security.md`.
   */
  boundMs?: number;
  /** How often a heartbeat is sent; 100 ms by default. */
  heartbeatMs?: number;
  /**
   * Heartbeats pause when nothing asked the cache (`live`, `get`) for this long (5 s by
   * default), so an idle process sends none; the next question sends one at once and is
   * answered uncached meanwhile.
   */
  idleAfterMs?: number;
  /** Answers kept at most (10 000 by default); past it the oldest tenth goes. */
  maxEntries?: number;
  onError?: (error: unknown) => void;
};

/**
 * A cache of credential look-ups (API keys, token standing, tenant state) invalidated by the
 * write model itself. Correct because PostgreSQL delivers the notifications of different
 * transactions in commit order: a heartbeat NOTIFY committed after a revocation reaches the
 * listener after the revocation's own notification, which has then emptied the cache. So when
 * the last heartbeat that came back was sent at s, every change committed before s has been
 * applied; answers are used only while s is less than `boundMs` old, hence a change committed
 * at t is honoured by every request that starts after t + `boundMs` — usually at once, as the
 * notification arrives within a millisecond. A look-up that began before a change was announced
 * is answered to its caller but not remembered (the epoch moved). Without a live signal
 * (PostgreSQL restarting, the listener reconnecting, an event loop stalled past the bound)
 * every request looks up afresh, as without a cache.
 */
export function createCredentialCache(options: CredentialCacheOptions): CredentialCache {
  const {
    databaseUrl,
    pool,
    boundMs = defaultBoundMs,
    heartbeatMs = 100,
    idleAfterMs = 5_000,
    maxEntries = 10_000,
    onError,
  } = options;
  const entries = new Map<string, { epoch: number; value: Promise<unknown> }>();
  const me = `ping:${process.pid}:${Math.random().toString(36).slice(2)}:`;
  const sentAt = new Map<number, number>();
  let sequence = 0;
  let epoch = 0;
  let confirmedSentAt = Number.NEGATIVE_INFINITY;
  let listening = false;
  let closed = false;

  const invalidate = () => {
    epoch++;
    entries.clear();
  };

  function onNotification(message: pg.Notification): void {
    const payload = message.payload ?? '';
    if (payload.startsWith('ping:')) {
      if (!payload.startsWith(me)) return;
      const n = Number(payload.slice(me.length));
      const at = sentAt.get(n);
      if (at !== undefined) confirmedSentAt = Math.max(confirmedSentAt, at);
      for (const older of sentAt.keys()) if (older <= n) sentAt.delete(older);
      return;
    }
    invalidate();
  }

  /** Ends the current listening session once (ending a pg client twice never settles). */
  let endSession: (() => Promise<void>) | undefined;

  async function listen(): Promise<void> {
    while (!closed) {
      const session = new pg.Client({ connectionString: databaseUrl });
      let ending: Promise<void> | undefined;
      // A client whose connection failed or was cut may never settle its `end()`: wait 1 s at most.
      endSession = () =>
        (ending ??= Promise.race([
          session.end().catch(() => undefined),
          new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref()),
        ]));
      const ended = new Promise<void>((resolve) => {
        session.on('error', (error) => {
          if (!closed) onError?.(error);
          resolve();
        });
        session.on('end', () => resolve());
      });
      session.on('notification', onNotification);
      try {
        await session.connect();
        await session.query(`listen ${credentialChannel}`);
        if (!closed) {
          listening = true;
          await ended;
        }
      } catch (error) {
        if (!closed) onError?.(error);
      } finally {
        // Whatever was announced while nobody listened is unknown: forget everything.
        listening = false;
        confirmedSentAt = Number.NEGATIVE_INFINITY;
        invalidate();
        await endSession();
      }
      // Unreferenced: a listener left running (its cache never closed) must not keep a process
      // alive by retrying for ever; an API process is kept alive by its server anyway.
      if (!closed) await new Promise((resolve) => setTimeout(resolve, 500).unref());
    }
  }

  function sendHeartbeat(): void {
    if (!listening) return;
    const n = ++sequence;
    sentAt.set(n, performance.now());
    if (sentAt.size > 100) sentAt.delete(sentAt.keys().next().value!);
    pool
      .query(sql.typeAlias('void')`select from pg_notify(${credentialChannel}, ${me + n})`)
      .catch((error: unknown) => {
        sentAt.delete(n);
        onError?.(error);
      });
  }

  // Heartbeats run while the cache is asked; an idle process (no requests) sends none. The
  // bound is unaffected: answers are served only while a heartbeat sent less than `boundMs`
  // ago has come back, whether or not heartbeats paused in between.
  let usedAt = performance.now();
  let heartbeat: NodeJS.Timeout | undefined;
  function beat(): void {
    if (performance.now() - usedAt > idleAfterMs) {
      clearInterval(heartbeat);
      heartbeat = undefined;
      return;
    }
    sendHeartbeat();
  }
  function asked(): void {
    usedAt = performance.now();
    if (heartbeat || closed) return;
    heartbeat = setInterval(beat, heartbeatMs);
    heartbeat.unref();
    sendHeartbeat();
  }

  const listener = listen();
  asked();

  const live = () => {
    asked();
    return listening && performance.now() - confirmedSentAt < boundMs;
  };

  return {
    live,
    forget: invalidate,
    get<T>(key: string, load: () => Promise<T>): Promise<T> {
      if (!live()) return load();
      const cached = entries.get(key);
      if (cached && cached.epoch === epoch) return cached.value as Promise<T>;
      if (entries.size >= maxEntries) {
        // Insertion order is age order: the oldest tenth goes at once.
        let drop = Math.ceil(maxEntries / 10);
        for (const old of entries.keys()) {
          if (drop-- <= 0) break;
          entries.delete(old);
        }
      }
      const began = epoch;
      const value = load();
      entries.set(key, { epoch: began, value });
      value.catch(() => {
        if (entries.get(key)?.value === value) entries.delete(key);
      });
      return value;
    },
    async close(): Promise<void> {
      closed = true;
      clearInterval(heartbeat);
      heartbeat = undefined;
      await endSession?.();
      await listener;
    },
  };
}
