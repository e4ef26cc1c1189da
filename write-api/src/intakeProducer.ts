import type { Producer } from 'kafkajs';
import { encodeIntakeEnvelope } from '@deeplens/events/eventCodec';
import type { EventSerde } from '@deeplens/events/eventSerde';
import type { IntakeCommand } from '@deeplens/events/intakeRecords';
import { topics } from '@deeplens/events/topics';
import { signIntakeEnvelope } from './intakeSignature.ts';

export type IntakeCredentials = { keyId: string; secret: string };

/**
 * What an event-producing integration imports to submit intake records: it signs each record
 * with its API key and writes it, Avro-encoded through the schema registry, to
 * `deeplens.intake.v1`, keyed by tenant so one tenant's records keep their order.
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
      const unsigned = {
        requestId,
        tenantId: options.tenantId,
        auth: { keyId: options.credentials.keyId, signature: Buffer.alloc(0) },
        command,
      };
      const signature = signIntakeEnvelope(unsigned, options.credentials.secret);
      const value = await options.serde.encodeIntakeEnvelope(
        encodeIntakeEnvelope({ ...unsigned, auth: { ...unsigned.auth, signature } }),
      );
      await options.producer.send({ topic, acks: -1, messages: [{ key: options.tenantId, value }] });
    },
  };
}
