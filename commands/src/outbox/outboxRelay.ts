import { setTimeout as sleep } from 'node:timers/promises';
import type { Message, Producer } from 'kafkajs';
import pg from 'pg';
import type { DeepLensEventType } from '@deeplens/events/domainEvent';
import { outboxChannel } from './outboxSignal.ts';
import type { EventSerde } from '@deeplens/events/eventSerde';
import { eventsPublished, outboxBacklog, outboxPublishLatency } from '@deeplens/platform/metrics';
import {
  SpanKind,
  trace,
  traceContextOf,
  traceHeaders,
  tracer,
  type Span,
} from '@deeplens/platform/telemetry';

type OutboxRow = {
  position: string;
  event_id: string;
  event_type: DeepLensEventType;
  topic: string;
  message_key: string;
  payload: Buffer;
  headers: Record<string, string>;
  age_seconds: number;
};

export type OutboxRelayOptions = {
  databaseUrl: string;
  producer: Producer;
  serde: EventSerde;
  /** Prepended to the outbox's logical topic names (`KAFKA_TOPIC_PREFIX`). */
  topicPrefix?: string;
  batchSize?: number;
  /** Payload bytes per Kafka send, at most (one event more if it alone is larger). Default 512 KiB. */
  maxBatchBytes?: number;
  /** A slow poll in case a notification is missed (e.g. across a reconnect). */
  pollIntervalMs?: number;
  /** Called after a batch is in Kafka and before it is marked published (fault injection in tests). */
  afterPublish?: (positions: string[]) => void | Promise<void>;
  onError?: (error: unknown) => void;
};

const relayLockKey = 'deeplens.outbox-relay';

/**
 * Publishes the outbox to Kafka in position order — per aggregate that is version order —
 * with the idempotent producer and `acks=all`, then marks the rows published. One relay is
 * active at a time (a session advisory lock); others wait as standbys. A crash between
 * publishing and marking republishes the batch on restart: consumers see the same event ids
 * again and skip them, so nothing is lost and nothing is applied twice.
 */
export function createOutboxRelay(options: OutboxRelayOptions) {
  const batchSize = options.batchSize ?? 500;
  const maxBatchBytes = options.maxBatchBytes ?? 512 * 2 ** 10;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  let stopping = false;
  let wake: (() => void) | undefined;
  let running: Promise<void> | undefined;
  let published = 0;

  async function waitForWork(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollIntervalMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = undefined;
  }

  /** Whether more rows may be waiting (a full or a cut batch): the leader goes on at once. */
  async function publishBatch(client: pg.Client): Promise<boolean> {
    const { rows: selected } = await client.query<OutboxRow>(
      `select position, event_id, event_type, topic, message_key, payload, headers,
              extract(epoch from now() - created_at)::float8 as age_seconds
       from write.outbox where published_at is null order by position limit $1`,
      [batchSize],
    );
    if (selected.length === 0) {
      outboxBacklog.set(0);
      return false;
    }
    // A broker refuses a record batch over its message.max.bytes (1 MiB by default): a batch
    // of large events (embeddings with local features, ~20 KiB each) is cut at maxBatchBytes,
    // at least one row, the rest following at once.
    let bytes = 0;
    const rows = selected.filter(
      (row) => (bytes += row.payload.length) <= maxBatchBytes || row === selected[0],
    );

    const byTopic = new Map<string, Message[]>();
    const spans: Span[] = [];
    for (const row of rows) {
      // Each event's publication continues the trace of the request that caused it.
      const parent = traceContextOf(row.headers);
      const span = tracer.startSpan(
        `publish ${row.event_type}`,
        {
          kind: SpanKind.PRODUCER,
          attributes: { 'messaging.system': 'kafka', 'deeplens.event_id': row.event_id },
        },
        parent,
      );
      spans.push(span);
      const topic = `${options.topicPrefix ?? ''}${row.topic}`;
      const messages = byTopic.get(topic) ?? [];
      messages.push({
        key: row.message_key,
        value: await options.serde.frameEncoded(row.event_type, row.payload),
        headers: {
          ...row.headers,
          ...traceHeaders(trace.setSpan(parent, span)),
          'event-type': row.event_type,
          'event-id': row.event_id,
        },
      });
      byTopic.set(topic, messages);
    }
    try {
      await options.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } finally {
      for (const span of spans) span.end();
    }
    const positions = rows.map((r) => r.position);
    await options.afterPublish?.(positions);
    await client.query('update write.outbox set published_at = now() where position = any($1::bigint[])', [
      positions,
    ]);
    published += rows.length;
    eventsPublished.inc(rows.length);
    for (const row of rows) outboxPublishLatency.observe(row.age_seconds);
    const full = selected.length === batchSize;
    if (full) {
      const backlog = await client.query<{ n: string }>(
        'select count(*) as n from write.outbox where published_at is null',
      );
      outboxBacklog.set(Number(backlog.rows[0]?.n ?? 0));
    } else {
      // Everything unpublished was selected: what is left is the cut's remainder (rows committed
      // since are counted by the next batch).
      outboxBacklog.set(selected.length - rows.length);
    }
    return full || rows.length < selected.length;
  }

  async function runAsLeader(client: pg.Client): Promise<void> {
    client.on('notification', () => wake?.());
    await client.query(`listen ${outboxChannel}`);
    while (!stopping) {
      const more = await publishBatch(client);
      if (!more && !stopping) await waitForWork();
    }
  }

  async function run(): Promise<void> {
    while (!stopping) {
      const client = new pg.Client({ connectionString: options.databaseUrl });
      // A lost connection (PostgreSQL restarting) fails the pending query, which ends this
      // leadership; without a listener the 'error' event would take the process down.
      client.on('error', (error) => options.onError?.(error));
      try {
        await client.connect();
        const { rows } = await client.query<{ leader: boolean }>(
          'select pg_try_advisory_lock(hashtext($1)) as leader',
          [relayLockKey],
        );
        if (rows[0]?.leader) await runAsLeader(client);
        else await sleep(pollIntervalMs);
      } catch (error) {
        options.onError?.(error);
        await sleep(pollIntervalMs);
      } finally {
        // Ending the session releases the advisory lock for a standby.
        await client.end().catch(() => undefined);
      }
    }
  }

  return {
    start(): void {
      running ??= run();
    },
    async stop(): Promise<void> {
      stopping = true;
      wake?.();
      await running;
    },
    /** Events published since start (for metrics and tests). */
    get published(): number {
      return published;
    },
  };
}

export type OutboxRelay = ReturnType<typeof createOutboxRelay>;
