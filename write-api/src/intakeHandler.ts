import { createHash } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { intakeKeyDecider } from '@deeplens/commands/identity/intakeKeyDecider';
import type { RegisteredIntakeKey } from '@deeplens/commands/identity/intakeKeyState';
import { appendToOutbox, type CommandHandler } from '@deeplens/commands/commandHandler';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { imageAggregate } from '@deeplens/commands/writeModelRules';
import { intakeSigningPayload } from '@deeplens/events/eventCodec';
import type { EventSerde } from '@deeplens/events/eventSerde';
import { intakeHeaders, type IntakeEnvelope, type IntakeRejected } from '@deeplens/events/intakeRecords';
import type { ConsumedRecord, ConsumerBatch } from '@deeplens/platform/consumerRuntime';
import type { DatabasePool } from '@deeplens/platform/database';
import {
  DeepLensError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '@deeplens/platform/errors';
import { deterministicUuid } from '@deeplens/platform/ids';
import type { Logger } from '@deeplens/platform/logger';
import { deadLetters } from '@deeplens/platform/metrics';
import { SpanKind, traceContextOf, withSpan } from '@deeplens/platform/telemetry';
import { recordAccepted, recordRejected } from '@deeplens/commands/intake/intakeOutcomes';
import { verifyIntakeSignature } from './intakeSignature.ts';
import type { IntakeUploads } from './intakeUploads.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An intake record as read off the topic: signed by an active key of its tenant and decoded,
 * or refused before it could be (with what was learnt of it by then).
 */
export type IntakeRecord =
  | { verdict: 'verified'; envelope: IntakeEnvelope; key: RegisteredIntakeKey; value: Buffer }
  | { verdict: 'refused'; error: DeepLensError; envelope?: IntakeEnvelope; key?: RegisteredIntakeKey };

export type IntakeHandlerOptions = {
  pool: DatabasePool;
  handler: CommandHandler;
  serde: EventSerde;
  log: Logger;
  /** Checks the object a `RegisterImage` names by reading it (`createIntakeUploads`). */
  uploads: Pick<IntakeUploads, 'verify' | 'registered'>;
  clock?: () => number;
};

export type IntakeHandler = {
  /** The consumer runtime's `decode`: the signature over the bytes first, then the envelope. */
  read: (value: Buffer, message: KafkaMessage) => Promise<IntakeRecord>;
  /** The consumer runtime's `handle`: applies each verified record, rejects each refused one. */
  handle: (batch: ConsumerBatch<IntakeRecord>) => Promise<void>;
  readonly counts: { accepted: number; rejected: number };
};

const unauthenticated = () =>
  // One answer for every failure, so a forger learns nothing about which part was wrong.
  new UnauthenticatedError(
    `the intake record is not signed by an active intake key of its tenant (headers ${intakeHeaders.keyId}, ${intakeHeaders.signature})`,
  );

function headerBytes(headers: KafkaMessage['headers'], name: string): Buffer | undefined {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first : Buffer.from(first);
}

/** A refusal of ours (final for the record) rather than a passing fault or a bug. */
const isRefusal = (error: unknown): error is DeepLensError =>
  error instanceof DeepLensError && !error.retriable;

/**
 * The intake's decisions, for the consumer runtime. A record that is malformed, unauthorised
 * or refused by a decider becomes an `IntakeRejected` event with the reason (keyed by tenant)
 * and a `rejected` outcome; an applied one an `accepted` outcome. Anything else (a dependency
 * down, a bug) is thrown for the runtime to retry, redeliver or dead-letter. The record's
 * request id is its idempotency key and a rejection's event id derives from the record's
 * position, so a record handled twice changes nothing twice.
 */
export function createIntakeHandler(options: IntakeHandlerOptions): IntakeHandler {
  const clock = options.clock ?? Date.now;
  const { pool, handler, serde, log } = options;
  const counts = { accepted: 0, rejected: 0 };
  // Per partition, the last record whose effect is durable: a batch retried after a later
  // record's failure resumes after it (the effect is idempotent anyway; the counts are not).
  const finished = new Map<string, number>();

  /**
   * Checks the signature over the record's bytes, before anything is decoded: the key named in
   * the headers must be an active intake key, and its public key must verify the value.
   */
  async function authenticate(message: KafkaMessage, value: Buffer): Promise<RegisteredIntakeKey> {
    const keyId = headerBytes(message.headers, intakeHeaders.keyId)?.toString('utf8');
    const signature = headerBytes(message.headers, intakeHeaders.signature);
    if (!keyId || !signature || keyId.length > 200) throw unauthenticated();
    const key = await handler.load(intakeKeyDecider, keyId);
    if (key.status !== 'active' || !verifyIntakeSignature(value, signature, key.publicKey)) {
      throw unauthenticated();
    }
    return key;
  }

  async function read(value: Buffer, message: KafkaMessage): Promise<IntakeRecord> {
    let key: RegisteredIntakeKey | undefined;
    let envelope: IntakeEnvelope | undefined;
    try {
      if (!message.value) throw new ValidationError('the intake record has no value');
      intakeSigningPayload(value); // the framing, before any key is looked up
      key = await authenticate(message, value);
      try {
        envelope = await serde.decodeIntakeEnvelope(value);
      } catch (error) {
        if (error instanceof DeepLensError) throw error;
        throw new ValidationError(
          `the intake record is not a valid IntakeEnvelope: ${(error as Error).message}`,
          { cause: error },
        );
      }
      if (envelope.tenantId !== key.tenantId) throw unauthenticated();
      return { verdict: 'verified', envelope, key, value };
    } catch (error) {
      if (isRefusal(error)) return { verdict: 'refused', error, envelope, key };
      throw error;
    }
  }

  async function apply(
    envelope: IntakeEnvelope,
    key: RegisteredIntakeKey,
    value: Buffer,
    source: string,
  ): Promise<string | null> {
    const origin = {
      actor: `system:intake-key:${key.keyId}` as const,
      correlationId: envelope.requestId,
      causationId: source,
      idempotency: {
        scope: `intake:${envelope.tenantId}`,
        key: envelope.requestId,
        fingerprint: createHash('sha256').update(intakeSigningPayload(value)).digest('hex'),
      },
    };
    const { tenantId } = envelope;
    const { command } = envelope;
    switch (command.type) {
      case 'RegisterImage': {
        const tenant = await handler.load(tenantDecider, tenantId);
        if (tenant.status === 'initial' || tenant.status === 'deleted')
          throw new NotFoundError(`no tenant ${tenantId}`);
        // What the object really is, read from the tenant's storage: never the sender's word.
        const verified = await options.uploads.verify(tenant, command.data);
        // Derived from the request id, so a redelivered record names the same image.
        const imageId = deterministicUuid('intake-image', tenantId, envelope.requestId);
        await handler.handle(
          imageAggregate,
          {
            type: 'UploadImage',
            data: {
              ...command.data,
              sha256: verified.sha256,
              mime: verified.mime,
              bytes: verified.bytes,
              width: verified.width,
              height: verified.height,
              tenantId,
              imageId,
              source: 'intake',
              tenant: { status: tenant.status, limits: tenant.limits },
            },
          },
          origin,
        );
        await options.uploads.registered(tenantId, command.data.objectKey);
        return imageId;
      }
      case 'UpdateImageMetadata': {
        const { imageId, tags, attributes } = command.data;
        await handler.handle(
          imageAggregate,
          {
            type: 'UpdateImageMetadata',
            data: { tenantId, imageId, ...(tags ? { tags } : {}), ...(attributes ? { attributes } : {}) },
          },
          origin,
        );
        return imageId;
      }
      case 'DeleteImage':
        await handler.handle(
          imageAggregate,
          { type: 'DeleteImage', data: { tenantId, imageId: command.data.imageId } },
          origin,
        );
        return command.data.imageId;
      default: {
        const unknown: never = command;
        throw new ValidationError(`unknown intake command ${String((unknown as { type: unknown }).type)}`);
      }
    }
  }

  async function reject(
    record: ConsumedRecord<IntakeRecord>,
    envelope: IntakeEnvelope | undefined,
    key: RegisteredIntakeKey | undefined,
    error: DeepLensError,
  ): Promise<void> {
    const { topic, partition, offset } = record;
    const position = `${topic}:${partition}:${offset}`;
    // The verified key's tenant, else the record's; an undecodable, unverified record is
    // filed under the tenant its Kafka key claims (it is keyed by tenant), if it names one.
    const claimed = record.key?.toString('utf8');
    const tenantId =
      key?.tenantId ?? envelope?.tenantId ?? (claimed && uuidPattern.test(claimed) ? claimed : null);
    // Keyed by tenant, so one tenant's rejections share a partition and keep their order.
    const aggregateId = tenantId ?? position;
    const event: IntakeRejected = {
      type: 'IntakeRejected',
      data: {
        requestId: envelope?.requestId ?? null,
        tenantId,
        reason: error.message,
        code: error.code,
        topic,
        partition,
        offset,
      },
      metadata: {
        // Derived from the record's position: a redelivery appends the same event, which the outbox ignores.
        eventId: deterministicUuid('intake-rejection', position),
        aggregateId,
        aggregateVersion: 1,
        tenantId,
        occurredAt: clock(),
        correlationId: envelope?.requestId ?? position,
        causationId: position,
        actor: 'system:intake',
      },
    };
    await pool.transaction(async (tx) => {
      await appendToOutbox(tx, event, 'intake');
      if (tenantId && envelope)
        await recordRejected(tx, {
          tenantId,
          requestId: envelope.requestId,
          code: error.code,
          reason: error.message,
        });
    });
    handler.outboxSignal.appended();
    counts.rejected++;
    deadLetters.inc({ consumer: 'intake' });
    log.warn('intake record rejected', {
      code: error.code,
      reason: error.message,
      requestId: envelope?.requestId,
      tenantId,
      offset,
    });
  }

  async function handleRecord(record: ConsumedRecord<IntakeRecord>): Promise<void> {
    const { value: read } = record;
    if (read.verdict === 'refused') return reject(record, read.envelope, read.key, read.error);
    const { envelope, key } = read;
    try {
      const imageId = await apply(
        envelope,
        key,
        read.value,
        `${record.topic}:${record.partition}:${record.offset}`,
      );
      await recordAccepted(pool, {
        tenantId: envelope.tenantId,
        requestId: envelope.requestId,
        command: envelope.command.type,
        imageId,
      });
      counts.accepted++;
    } catch (error) {
      // A decider's or our own refusal is final for this record; anything else is not ours to decide.
      if (isRefusal(error)) await reject(record, envelope, key, error);
      else throw error;
    }
  }

  return {
    read,
    handle: async ({ topic, partition, records }) => {
      const at = `${topic}:${partition}`;
      for (const record of records) {
        if (record.offset <= (finished.get(at) ?? -1)) continue;
        // The record's span is active while it is handled, so its events carry the sender's trace.
        await withSpan(
          'intake record',
          {
            kind: SpanKind.CONSUMER,
            parent: traceContextOf(record.headers),
            attributes: { 'messaging.kafka.offset': String(record.offset) },
          },
          () => handleRecord(record),
        );
        finished.set(at, record.offset);
      }
    },
    counts,
  };
}
