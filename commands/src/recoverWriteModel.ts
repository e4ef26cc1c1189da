import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import type { DomainEvent } from '@deeplens/events/domainEvent';
import { installationEventTypes } from '@deeplens/events/embeddingSpaceEvents';
import type { EventSerde } from '@deeplens/events/eventSerde';
import { topicsWithPrefix } from '@deeplens/events/topics';
import { ConflictError, UnprocessableError } from '@deeplens/platform/errors';
import { fetchTopicOffsetsSettled } from '@deeplens/platform/kafkaRetry';
import { runMigrations } from '@deeplens/platform/migrations';
import { writeModelMigrations } from './commandHandler.ts';
import { recoveryProgressMetrics } from './recoverMetrics.ts';
import {
  createWriteModelFold,
  formatPosition,
  type FoldedWriteModel,
  type ReservationClash,
} from './writeModelFold.ts';

/**
 * `recover`: into an empty write model (refused otherwise); `force`: replace a non-empty one;
 * `verify`: recover into scratch tables and compare them with the live write model.
 */
export type RecoverMode = 'recover' | 'force' | 'verify';

export type RecoveryProgress = { done: number; total: number; elapsedMs: number };

export type RecoverOptions = {
  kafka: Kafka;
  serde: Pick<EventSerde, 'decodeEvent'>;
  databaseUrl: string;
  mode: RecoverMode;
  /** `KAFKA_TOPIC_PREFIX`: the domain topics read are the tenant, identity and image topics under it. */
  topicPrefix?: string;
  /** The domain topics by name, instead of by prefix (benchmarks and tests with topics of their own). */
  topics?: { tenant: string; identity: string; image: string };
  onProgress?: (progress: RecoveryProgress) => void;
};

/** A row where the live write model and the one recovered from the log disagree. */
export type WriteModelDifference = {
  table: 'aggregates' | 'unique_reservations' | 'usage';
  key: string;
  live: unknown;
  recovered: unknown;
  /** For aggregates: the top-level fields of the state that differ. */
  fields?: string[];
};

export type RecoveryResult = {
  mode: RecoverMode;
  /** Records read from the log (every partition from offset 0 to its end when recovery began). */
  records: number;
  /** Events folded (`records` less `duplicates`). */
  applied: number;
  /** Republished events recognised by their version and skipped. */
  duplicates: number;
  aggregates: number;
  reservations: number;
  tenantsWithUsage: number;
  clashes: ReservationClash[];
  /** The end offsets read up to, `topic:partition` → offset. */
  logEnd: Record<string, number>;
  readSeconds: number;
  writeSeconds: number;
  /** `verify` only. */
  differences?: WriteModelDifference[];
  /** `verify` only: aggregates written while the check ran (not compared). */
  changedDuringCheck?: number;
};

/**
 * Recovers the write model (aggregate states and versions, uniqueness reservations, usage
 * counters; API keys and users are aggregates) by folding every domain event in the log through
 * the deciders' `evolve` (see `createWriteModelFold`). Every partition is read from offset 0 to
 * its end as it was when recovery began. Nothing goes to the outbox: these events are in the
 * log already. What is not in the log (sessions, idempotency keys, throttles) stays empty.
 *
 * All or nothing: the write happens in one transaction, so an interrupted recovery leaves the
 * write model as it was and can be run again. A record that cannot be decoded or folded stops
 * it with an error naming `topic:partition:offset`; nothing is ever skipped.
 */
export async function recoverWriteModel(options: RecoverOptions): Promise<RecoveryResult> {
  // Verifying changes nothing: it neither creates the database nor applies migrations.
  if (options.mode !== 'verify') {
    await ensureDatabase(options.databaseUrl);
    await ensureWriteModelSchema(options.databaseUrl);
  }
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  try {
    if (options.mode !== 'verify') await assertReplaceable(client, options.mode);
    else if (!(await writeModelPresent(client))) {
      throw new UnprocessableError(
        'there is no write model to verify (its tables are missing): recover first',
      );
    }
    const startedAt = await dbNow(client);
    const named = options.topics ?? topicsWithPrefix(options.topicPrefix ?? '');
    const topics = [named.tenant, named.identity, named.image];
    const readStarted = performance.now();
    const fold = createWriteModelFold();
    const { records, logEnd } = await readLog(options, topics, (event, position) => {
      // An installation's fact (an embedding space retired) belongs to no aggregate.
      if ((installationEventTypes as readonly string[]).includes(event.type)) return;
      fold.apply(event, position);
    });
    const readSeconds = (performance.now() - readStarted) / 1000;
    const folded = fold.result();
    const writeStarted = performance.now();
    const base = {
      mode: options.mode,
      records,
      applied: fold.applied,
      duplicates: fold.duplicates,
      aggregates: folded.aggregates.length,
      reservations: folded.reservations.length,
      tenantsWithUsage: folded.usage.size,
      clashes: folded.clashes,
      logEnd,
      readSeconds,
    };
    if (options.mode === 'verify') {
      const { differences, changedDuringCheck } = await verifyAgainstLive(client, folded, startedAt);
      return {
        ...base,
        writeSeconds: (performance.now() - writeStarted) / 1000,
        differences,
        changedDuringCheck,
      };
    }
    await client.query('begin');
    try {
      await assertReplaceable(client, options.mode, true);
      await client.query('delete from write.aggregates');
      await client.query('delete from write.unique_reservations');
      await client.query('delete from write.usage_stripes');
      await insertFolded(client, folded, 'write');
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    }
    return { ...base, writeSeconds: (performance.now() - writeStarted) / 1000 };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates the database named in the URL if it is gone (the disaster recovery exists for). */
async function ensureDatabase(databaseUrl: string): Promise<void> {
  const probe = new pg.Client({ connectionString: databaseUrl });
  try {
    await probe.connect();
    return;
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') throw error;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
  } catch (error) {
    // Created by someone else meanwhile: as good.
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await admin.end();
  }
}

/** Applies the write model's migrations; re-applies them if their tables were dropped since. */
async function ensureWriteModelSchema(databaseUrl: string): Promise<void> {
  await runMigrations(databaseUrl, 'write-model', writeModelMigrations);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    if (await writeModelPresent(client)) return;
    await client.query(`drop schema if exists write cascade`);
    await client.query(`delete from public.schema_migrations where component = 'write-model'`);
  } finally {
    await client.end();
  }
  await runMigrations(databaseUrl, 'write-model', writeModelMigrations);
}

async function writeModelPresent(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>(
    `select to_regclass('write.aggregates') is not null and to_regclass('write.usage_stripes') is not null
        and to_regclass('write.unique_reservations') is not null and to_regclass('write.outbox') is not null as present`,
  );
  return rows[0]?.present === true;
}

async function dbNow(client: pg.Client): Promise<Date> {
  const { rows } = await client.query<{ now: Date }>('select clock_timestamp() as now');
  return rows[0]!.now;
}

/**
 * Recovery replaces the write model, so it refuses one that holds anything unless forced, and
 * always refuses one whose outbox still holds events not in Kafka (they would be lost, and the
 * relay would later publish them on top of the recovered versions).
 */
async function assertReplaceable(client: pg.Client, mode: RecoverMode, lock = false): Promise<void> {
  if (lock) {
    await client.query(
      'lock table write.aggregates, write.unique_reservations, write.usage_stripes, write.outbox in exclusive mode',
    );
  }
  const { rows } = await client.query<{
    aggregates: string;
    reservations: string;
    usage: string;
    unpublished: string;
  }>(
    `select (select count(*) from write.aggregates) as aggregates,
            (select count(*) from write.unique_reservations) as reservations,
            (select count(*) from write.usage_stripes) as usage,
            (select count(*) from write.outbox where published_at is null) as unpublished`,
  );
  const counts = rows[0]!;
  const unpublished = Number(counts.unpublished);
  if (unpublished > 0) {
    throw new ConflictError(
      `the outbox holds ${unpublished} events not yet in Kafka: start the relay (npm run start:relay) and let it publish them, then recover`,
      { detail: { unpublished } },
    );
  }
  const held = Number(counts.aggregates) + Number(counts.reservations) + Number(counts.usage);
  if (held > 0 && mode !== 'force') {
    throw new ConflictError(
      `the write model is not empty (${counts.aggregates} aggregates, ${counts.reservations} reservations, ${counts.usage} usage rows): ` +
        'recover --verify compares it with the log; recover --force replaces it with what the log says',
      { detail: { aggregates: Number(counts.aggregates) } },
    );
  }
}

type PartitionEnd = { topic: string; partition: number; end: number };

/** How long reading may make no progress before recovery gives up, naming the partitions left. */
const stallMs = 120_000;

/**
 * Reads every partition of `topics` from offset 0 to its end now, with a throw-away consumer
 * group, handing each decoded event to `onEvent` in partition order.
 */
async function readLog(
  options: RecoverOptions,
  topics: readonly string[],
  onEvent: (event: DomainEvent, position: { topic: string; partition: number; offset: string }) => void,
): Promise<{ records: number; logEnd: Record<string, number> }> {
  const { kafka } = options;
  const admin = kafka.admin();
  await admin.connect();
  const ends: PartitionEnd[] = [];
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      throw new UnprocessableError(
        `${missing.length === 1 ? 'topic' : 'topics'} ${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist: nothing to recover from (is KAFKA_TOPIC_PREFIX right?)`,
        { detail: { missing } },
      );
    }
    for (const topic of topics) {
      for (const { partition, high, low } of await fetchTopicOffsetsSettled(admin, topic)) {
        if (Number(low) > 0) {
          throw new UnprocessableError(
            `${topic}:${partition} starts at offset ${low}, not 0: records were deleted (retention?), so the log no longer holds the whole history`,
            { detail: { topic, partition, low: Number(low) } },
          );
        }
        ends.push({ topic, partition, end: Number(high) });
      }
    }
  } finally {
    await admin.disconnect();
  }
  const logEnd: Record<string, number> = Object.fromEntries(
    ends.map((e) => [`${e.topic}:${e.partition}`, e.end]),
  );
  const total = ends.reduce((sum, e) => sum + e.end, 0);
  const started = performance.now();
  let done = 0;
  const report = () => {
    const progress = { done, total, elapsedMs: performance.now() - started };
    recoveryProgressMetrics(progress);
    options.onProgress?.(progress);
  };
  report();
  if (total === 0) return { records: 0, logEnd };

  const remaining = new Map<string, number>(
    ends.filter((e) => e.end > 0).map((e) => [`${e.topic}:${e.partition}`, e.end]),
  );
  const groupId = `deeplens-recover-${randomUUID()}`;
  const consumer = kafka.consumer({
    groupId,
    maxBytesPerPartition: 8 * 2 ** 20,
    maxBytes: 32 * 2 ** 20,
    allowAutoTopicCreation: false,
  });
  let failure: unknown;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    failure ??= payload.error;
    finish();
  });
  // A partition that never delivers (not assigned, a broker gone) must not hang recovery.
  let lastDone = -1;
  const stall = setInterval(() => {
    if (done !== lastDone) {
      lastDone = done;
      return;
    }
    failure ??= new UnprocessableError(
      `no record read for ${stallMs / 1000} s; still to read: ${[...remaining.keys()].join(', ')}`,
    );
    finish();
  }, stallMs);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await consumer.run({
      // Offsets are committed to the throw-away group only so that a consumer that lost its
      // membership under load resumes where it was rather than at 0 (the fold would skip what
      // it re-read as republished events, but would re-read it).
      autoCommitInterval: 5_000,
      partitionsConsumedConcurrently: 3,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const pause = () => void payload.pause();
        if (failure !== undefined) return;
        const key = `${batch.topic}:${batch.partition}`;
        const end = remaining.get(key);
        if (end === undefined) {
          pause();
          return;
        }
        try {
          for (const message of batch.messages) {
            const offset = Number(message.offset);
            if (offset >= end) break;
            const position = { topic: batch.topic, partition: batch.partition, offset: message.offset };
            let event: DomainEvent;
            try {
              if (!message.value) throw new Error('the record has no value');
              event = (await options.serde.decodeEvent(message.value)) as DomainEvent;
            } catch (error) {
              throw new UnprocessableError(
                `${formatPosition(position)} cannot be decoded: ${error instanceof Error ? error.message : String(error)}`,
                { cause: error, detail: { position: formatPosition(position) } },
              );
            }
            onEvent(event, position);
            done++;
            // A long batch on a busy machine must not cost the group membership.
            if (done % 2_000 === 0) await payload.heartbeat();
            if (offset >= end - 1) remaining.delete(key);
          }
          if (Number(batch.lastOffset()) >= end - 1) remaining.delete(key);
        } catch (error) {
          failure = error;
          finish();
          return;
        }
        report();
        if (!remaining.has(key)) pause();
        if (remaining.size === 0) finish();
      },
    });
    await finished;
  } finally {
    clearInterval(stall);
    await consumer.disconnect().catch(() => undefined);
    const cleanup = kafka.admin();
    await cleanup
      .connect()
      .then(() => cleanup.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => cleanup.disconnect().catch(() => undefined));
  }
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
  report();
  return { records: done, logEnd };
}

const batchRows = 5_000;

/**
 * Writes the folded write model into `schema`'s tables (empty), in batches of rows sent as ONE
 * JSON text parameter each (`json_to_recordset`): one round trip per batch, and no per-element
 * escaping of text arrays on the client (which cost more than the insert itself for the states).
 */
async function insertFolded(client: pg.Client, folded: FoldedWriteModel, schema: string): Promise<void> {
  const table = (name: string) => `${pg.escapeIdentifier(schema)}.${name}`;
  const { aggregates, reservations, usage } = folded;
  for (let i = 0; i < aggregates.length; i += batchRows) {
    const rows = aggregates.slice(i, i + batchRows);
    // Built by hand: each state is serialised once, straight into the batch's text.
    const parts: string[] = [];
    for (const r of rows) {
      parts.push(
        `{"t":${JSON.stringify(r.aggregateType)},"i":${JSON.stringify(r.aggregateId)},"n":${JSON.stringify(r.tenantId)},"v":${r.version},"s":${JSON.stringify(r.state)},"u":${r.updatedAt}}`,
      );
    }
    await client.query(
      `insert into ${table('aggregates')} (aggregate_type, aggregate_id, tenant_id, version, state, updated_at)
       select r.t, r.i, r.n, r.v, r.s::jsonb, to_timestamp(r.u / 1000.0)
       from json_to_recordset($1::json) as r(t text, i text, n text, v int8, s json, u float8)`,
      [`[${parts.join(',')}]`],
    );
  }
  for (let i = 0; i < reservations.length; i += batchRows) {
    const rows = reservations.slice(i, i + batchRows);
    await client.query(
      `insert into ${table('unique_reservations')} (kind, value, aggregate_id)
       select r.k, r.v, r.a from json_to_recordset($1::json) as r(k text, v text, a text)`,
      [JSON.stringify(rows.map((r) => ({ k: r.kind, v: r.value, a: r.aggregateId })))],
    );
  }
  // One stripe per tenant, granted exactly what it uses: the next upload takes the slow path and
  // is granted again against the tenant's limits in force.
  const tenants = [...usage];
  for (let i = 0; i < tenants.length; i += batchRows) {
    const rows = tenants.slice(i, i + batchRows);
    await client.query(
      `insert into ${table('usage_stripes')} (tenant_id, stripe, images, bytes, images_granted, bytes_granted)
       select r.t, 0, r.im, r.b, r.im, r.b from json_to_recordset($1::json) as r(t text, im int8, b int8)`,
      [JSON.stringify(rows.map(([t, u]) => ({ t, im: u.images, b: u.bytes })))],
    );
  }
}

const shownDifferences = 1_000;

/**
 * Recovers into temporary tables (gone with the session) and compares them with the live write
 * model: aggregates (tenant, version, state), reservations, and each tenant's usage totals
 * (stripes and grants are how usage is held, not what it is). Aggregates written since the check
 * began, or whose events were still on their way to Kafka, are left out and counted.
 */
async function verifyAgainstLive(
  client: pg.Client,
  folded: FoldedWriteModel,
  startedAt: Date,
): Promise<{ differences: WriteModelDifference[]; changedDuringCheck: number }> {
  await client.query(`
    create temp table aggregates (like write.aggregates including defaults);
    create temp table unique_reservations (like write.unique_reservations including defaults);
    create temp table usage_stripes (like write.usage_stripes including defaults);`);
  const scratch = (
    await client.query<{ nspname: string }>(
      'select nspname from pg_namespace where oid = pg_my_temp_schema()',
    )
  ).rows[0]!.nspname;
  await insertFolded(client, folded, scratch);
  await client.query(
    `create temp table moved as
       select aggregate_type, aggregate_id from write.aggregates where updated_at >= $1
       union
       select aggregate_type, aggregate_id from write.outbox where published_at is null or published_at >= $1`,
    [startedAt],
  );
  const changedDuringCheck = Number(
    (await client.query<{ n: string }>('select count(*) as n from moved')).rows[0]!.n,
  );
  const differences: WriteModelDifference[] = [];

  const aggregateRows = await client.query<{
    aggregate_type: string;
    aggregate_id: string;
    live: { tenantId: string | null; version: number; state: Record<string, unknown> } | null;
    recovered: { tenantId: string | null; version: number; state: Record<string, unknown> } | null;
  }>(
    `select coalesce(l.aggregate_type, r.aggregate_type) as aggregate_type,
            coalesce(l.aggregate_id, r.aggregate_id) as aggregate_id,
            case when l.aggregate_id is null then null
                 else jsonb_build_object('tenantId', l.tenant_id, 'version', l.version, 'state', l.state) end as live,
            case when r.aggregate_id is null then null
                 else jsonb_build_object('tenantId', r.tenant_id, 'version', r.version, 'state', r.state) end as recovered
     from write.aggregates l
     full join pg_temp.aggregates r
       on r.aggregate_type = l.aggregate_type and r.aggregate_id = l.aggregate_id
     where (l.aggregate_id is null or r.aggregate_id is null or l.version <> r.version
            or l.state <> r.state or l.tenant_id is distinct from r.tenant_id)
       and not exists (select 1 from moved m
                       where m.aggregate_type = coalesce(l.aggregate_type, r.aggregate_type)
                         and m.aggregate_id = coalesce(l.aggregate_id, r.aggregate_id))
     order by 1, 2
     limit ${shownDifferences}`,
  );
  for (const row of aggregateRows.rows) {
    const { live, recovered } = row;
    const fields =
      live && recovered
        ? [
            ...(live.tenantId !== recovered.tenantId ? ['(tenant)'] : []),
            ...[...new Set([...Object.keys(live.state), ...Object.keys(recovered.state)])].filter(
              (field) => JSON.stringify(live.state[field]) !== JSON.stringify(recovered.state[field]),
            ),
          ]
        : undefined;
    differences.push({
      table: 'aggregates',
      key: `${row.aggregate_type} ${row.aggregate_id}`,
      live,
      recovered,
      ...(fields ? { fields } : {}),
    });
  }

  const reservationRows = await client.query<{
    kind: string;
    value: string;
    live: string | null;
    recovered: string | null;
  }>(
    `select coalesce(l.kind, r.kind) as kind, coalesce(l.value, r.value) as value,
            l.aggregate_id as live, r.aggregate_id as recovered
     from write.unique_reservations l
     full join pg_temp.unique_reservations r on r.kind = l.kind and r.value = l.value
     where l.aggregate_id is distinct from r.aggregate_id
       and not exists (select 1 from moved m where m.aggregate_id in (l.aggregate_id, r.aggregate_id))
     order by 1, 2
     limit ${shownDifferences}`,
  );
  for (const row of reservationRows.rows) {
    differences.push({
      table: 'unique_reservations',
      key: `${row.kind} ${row.value}`,
      live: row.live,
      recovered: row.recovered,
    });
  }

  const usageRows = await client.query<{ tenant_id: string; live: unknown; recovered: unknown }>(
    `with l as (select tenant_id, sum(images)::int8 as images, sum(bytes)::int8 as bytes
                from write.usage_stripes group by tenant_id),
          r as (select tenant_id, sum(images)::int8 as images, sum(bytes)::int8 as bytes
                from pg_temp.usage_stripes group by tenant_id)
     select coalesce(l.tenant_id, r.tenant_id) as tenant_id,
            jsonb_build_object('images', coalesce(l.images, 0), 'bytes', coalesce(l.bytes, 0)) as live,
            jsonb_build_object('images', coalesce(r.images, 0), 'bytes', coalesce(r.bytes, 0)) as recovered
     from l full join r on r.tenant_id = l.tenant_id
     where (coalesce(l.images, 0), coalesce(l.bytes, 0)) <> (coalesce(r.images, 0), coalesce(r.bytes, 0))
       and not exists (select 1 from moved m join write.aggregates a using (aggregate_type, aggregate_id)
                       where a.tenant_id = coalesce(l.tenant_id, r.tenant_id))
     order by 1
     limit ${shownDifferences}`,
  );
  for (const row of usageRows.rows) {
    differences.push({
      table: 'usage',
      key: `tenant ${row.tenant_id}`,
      live: row.live,
      recovered: row.recovered,
    });
  }
  await client.query(
    'drop table pg_temp.aggregates, pg_temp.unique_reservations, pg_temp.usage_stripes, pg_temp.moved',
  );
  return { differences, changedDuringCheck };
}
