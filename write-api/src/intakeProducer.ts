import type { KeyObject } from 'node:crypto';
import type { IHeaders, Producer } from 'kafkajs';
import { encodeIntakeEnvelope } from '@deeplens/events/eventCodec';
import type { EventSerde } from '@deeplens/events/eventSerde';
import { intakeHeaders, type IntakeCommand } from '@deeplens/events/intakeRecords';
import { topics } from '@deeplens/events/topics';
import { traceHeaders } from '@deeplens/platform/telemetry';
import { signIntakeRecord } from './intakeSignature.ts';

/** An intake key: the id DeepLens gave its public key, and the private key that stays here. */
export type IntakeCredentials = { keyId: string; privateKey: KeyObject };

/**
 * An event-producing integration written in TypeScript: it writes each record, Avro-encoded
 * through the schema registry, to `deeplens.intake.v1`, keyed by tenant so one tenant's records
 * keep their order, and signs the record's bytes in its headers. (Integrations in other
 * languages do the same with a stock client: see docs/integrations.md.)
 */
export function createIntakeProducer(options: {
  producer: Producer;
  serde: EventSerde;
  tenantId: string;
  credentials: IntakeCredentials;
  topic?: string;
}) {
  const topic = options.topic ?? topics.intake;
  return {
    /** `requestId` is the record's idempotency key: resubmitting it changes nothing. */
    async submit(requestId: string, command: IntakeCommand): Promise<void> {
      const value = await options.serde.encodeIntakeEnvelope(
        encodeIntakeEnvelope({ requestId, tenantId: options.tenantId, command }),
      );
      await options.producer.send({
        topic,
        acks: -1,
        messages: [
          { key: options.tenantId, value, headers: intakeRecordHeaders(value, options.credentials) },
        ],
      });
    },
  };
}

/** The headers that authenticate one intake record (plus the active trace, if any). */
export function intakeRecordHeaders(value: Buffer, credentials: IntakeCredentials): IHeaders {
  return {
    ...traceHeaders(),
    [intakeHeaders.keyId]: credentials.keyId,
    [intakeHeaders.signature]: signIntakeRecord(value, credentials.privateKey),
  };
}
