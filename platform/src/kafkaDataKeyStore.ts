import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import pg from 'pg';
import { z } from 'zod';
import { loadConfig, type Config } from './config.ts';
import { createKafka, ensureTopics, verifyTopics } from './kafka.ts';
import { fetchTopicOffsetsSettled } from './kafkaRetry.ts';
import {
  loadDataKeyMasterKey,
  newDataKey,
  unwrapDataKey,
  wrapDataKey,
  type DataKeyStore,
} from './dataKeys.ts';

/** The compacted topic that holds every subject's wrapped data key (key = subject). */
export const dataKeysTopic = 'deeplens.datakeys.v1';

/**
 * The key topic is compacted, not kept forever: only a subject's latest record survives, and an
 * erasure's tombstone takes the key with it. Segments roll hourly and any dirty share is worth
 * cleaning, so a destroyed key is gone from the broker's disks within a day at most
 * (`max.compaction.lag.ms`); the tombstone itself is kept a day so restarted readers see it.
 */
export const dataKeysTopicConfig: ReadonlyArray<{ name: string; value: string }> = [
  { name: 'cleanup.policy', value: 'compact' },
  { name: 'min.cleanable.dirty.ratio', value: '0.01' },
  { name: 'segment.ms', value: '3600000' },
  { name: 'max.compaction.lag.ms', value: '86400000' },
  { name: 'delete.retention.ms', value: '86400000' },
];

const keyRow = z.object({
  wrapped: z.instanceof(Buffer).nullable(),
  durable: z.boolean(),
  erased: z.boolean(),
});

const recordValue = z.object({ v: z.literal(1), wrapped: z.string() });

export type KafkaDataKeyStore = DataKeyStore & {
  /** Brings the PostgreSQL cache up to the key topic's end (done by `start`). */
  syncFromTopic(): Promise<{ keys: number; erased: number }>;
  stop(): Promise<void>;
};

/**
 * The data-key store of record: each subject's key, wrapped by the master key, on the compacted
 * key topic; PostgreSQL (`data_keys.keys`) is a cache of it, rebuilt from the topic at start, so
 * losing PostgreSQL loses no key. A key is on the topic (acks=all) before anything is sealed
 * with it, so no event in the log can outlive the key that reads it, except by erasure.
 *
 * It holds no connection between calls (a `pg` pool that lets the process exit when idle, a
 * producer per write): keys are written once per subject and erased once, and a process that
 * only reads — a test, the recovery tool — must be able to end.
 */
export async function startKafkaDataKeyStore(options: {
  kafka: Kafka;
  databaseUrl: string;
  masterKey: Buffer;
  topic?: string;
}): Promise<KafkaDataKeyStore> {
  const { kafka, masterKey } = options;
  const topic = options.topic ?? dataKeysTopic;
  if (masterKey.length !== 32) throw new Error('the data-key master key must be 32 bytes');
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: 2,
    idleTimeoutMillis: 1_000,
    allowExitOnIdle: true,
  });
  // An idle connection ended by the server (a restart, a dropped database) is replaced on the
  // next query; without a listener its 'error' event would end the process.
  pool.on('error', () => {});

  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext('deeplens.data_keys'))`);
    await client.query('create schema if not exists data_keys');
    await client.query(`
      create table if not exists data_keys.keys (
        subject text primary key,
        wrapped bytea,
        durable boolean not null default false,
        erased boolean not null default false,
        updated_at timestamptz not null default now()
      )`);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }

  async function publish(subject: string, wrapped: Buffer | null): Promise<void> {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await producer.send({
        topic,
        acks: -1,
        messages: [
          {
            key: subject,
            value: wrapped ? JSON.stringify({ v: 1, wrapped: wrapped.toString('base64') }) : null,
          },
        ],
      });
    } finally {
      await producer.disconnect();
    }
  }

  async function row(subject: string) {
    const { rows } = await pool.query(
      'select wrapped, durable, erased from data_keys.keys where subject = $1',
      [subject],
    );
    return rows[0] === undefined ? undefined : keyRow.parse(rows[0]);
  }

  const markErased = (subject: string) =>
    pool.query(
      `insert into data_keys.keys (subject, wrapped, durable, erased) values ($1, null, true, true)
       on conflict (subject) do update set wrapped = null, durable = true, erased = true, updated_at = now()`,
      [subject],
    );

  async function syncFromTopic(): Promise<{ keys: number; erased: number }> {
    const admin = kafka.admin();
    await admin.connect();
    const ends = new Map<number, bigint>();
    try {
      for (const p of await fetchTopicOffsetsSettled(admin, topic)) {
        if (BigInt(p.high) > BigInt(p.low)) ends.set(p.partition, BigInt(p.high));
      }
    } finally {
      await admin.disconnect();
    }
    const counts = { keys: 0, erased: 0 };
    if (ends.size === 0) return counts;
    const groupId = `deeplens-datakeys-sync-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out reading ${topic} to its end`)), 120_000);
        void consumer
          .run({
            eachBatch: async (payload) => {
              const { batch } = payload;
              for (const message of batch.messages) {
                const subject = message.key?.toString();
                if (!subject) continue;
                if (message.value === null || message.value.length === 0) {
                  await markErased(subject);
                  counts.erased++;
                } else {
                  const parsed = recordValue.safeParse(JSON.parse(message.value.toString('utf8')));
                  if (!parsed.success) continue;
                  const wrapped = Buffer.from(parsed.data.wrapped, 'base64');
                  await pool.query(
                    `insert into data_keys.keys (subject, wrapped, durable, erased) values ($1, $2, true, false)
                     on conflict (subject) do update
                       set wrapped = excluded.wrapped, durable = true, erased = false, updated_at = now()`,
                    [subject, wrapped],
                  );
                  counts.keys++;
                }
              }
              await payload.heartbeat();
              const end = ends.get(batch.partition);
              if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) ends.delete(batch.partition);
              if (ends.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
      const admin = kafka.admin();
      await admin
        .connect()
        .then(() => admin.deleteGroups([groupId]))
        .catch(() => undefined)
        .finally(() => void admin.disconnect());
    }
    return counts;
  }

  await syncFromTopic();

  return {
    syncFromTopic,
    async keyForWriting(subject) {
      let current = await row(subject);
      if (!current) {
        const wrapped = wrapDataKey(masterKey, subject, newDataKey());
        // Two writers racing for a new subject agree on the first row; both may publish it.
        await pool.query(
          'insert into data_keys.keys (subject, wrapped) values ($1, $2) on conflict (subject) do nothing',
          [subject, wrapped],
        );
        current = await row(subject);
      }
      if (!current || current.erased || !current.wrapped) return undefined;
      if (!current.durable) {
        await publish(subject, current.wrapped);
        await pool.query(
          'update data_keys.keys set durable = true, updated_at = now() where subject = $1 and wrapped = $2',
          [subject, current.wrapped],
        );
      }
      return unwrapDataKey(masterKey, subject, current.wrapped);
    },
    async keyForReading(subject) {
      const current = await row(subject);
      if (!current || current.erased || !current.wrapped || !current.durable) return undefined;
      return unwrapDataKey(masterKey, subject, current.wrapped);
    },
    async destroy(subject) {
      // The tombstone first: it is the record of the erasure, and the cache follows it.
      await publish(subject, null);
      await markErased(subject);
    },
    async stop() {
      await pool.end();
    },
  };
}

/** Creates the key topic when it is missing (compacted, one partition), then checks its settings. */
export async function ensureDataKeysTopic(admin: Admin, topic: string): Promise<void> {
  const spec = { topic, partitions: 1, configEntries: [...dataKeysTopicConfig] };
  await ensureTopics(admin, [spec]);
  await verifyTopics(
    admin,
    [spec],
    { replicationFactor: 1, minInsyncReplicas: 1 },
    { checkGuarantees: false },
  );
}

let installationStore: Promise<KafkaDataKeyStore> | undefined;

/**
 * The installation's key store, started once per process on first use from the environment
 * (`loadConfig`): what a serde uses when it is given no store of its own, so every process that
 * publishes or reads personal data seals and opens it the same way.
 */
export function installationDataKeyStore(): DataKeyStore {
  const store = () => {
    if (!installationStore) {
      const config = loadConfig();
      const kafka = createKafka(config, 'deeplens-data-keys');
      installationStore = (async () => {
        const admin = kafka.admin();
        await admin.connect();
        try {
          await ensureDataKeysTopic(admin, `${config.KAFKA_TOPIC_PREFIX}${dataKeysTopic}`);
        } finally {
          await admin.disconnect();
        }
        return startConfiguredDataKeyStore(config, kafka);
      })();
      installationStore.catch(() => (installationStore = undefined));
    }
    return installationStore;
  };
  return {
    keyForWriting: async (subject) => (await store()).keyForWriting(subject),
    keyForReading: async (subject) => (await store()).keyForReading(subject),
    destroy: async (subject) => (await store()).destroy(subject),
  };
}

/**
 * The installation's key store, as a process starts it: the master key from
 * `DATA_KEY_MASTER_KEY` (or the local run's generated file) and the prefixed key topic.
 */
export async function startConfiguredDataKeyStore(
  config: Pick<
    Config,
    'DATA_KEY_MASTER_KEY' | 'SECRETS_DIR' | 'NODE_ENV' | 'KAFKA_TOPIC_PREFIX' | 'DATABASE_URL'
  >,
  kafka: Kafka,
): Promise<KafkaDataKeyStore> {
  const masterKey = await loadDataKeyMasterKey(
    config.DATA_KEY_MASTER_KEY,
    join(config.SECRETS_DIR, 'data-key-master.key'),
    config.NODE_ENV === 'production',
  );
  return startKafkaDataKeyStore({
    kafka,
    databaseUrl: config.DATABASE_URL,
    masterKey,
    topic: `${config.KAFKA_TOPIC_PREFIX}${dataKeysTopic}`,
  });
}
