import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { intakeSigningPayload } from '@deeplens/events/eventCodec';
import type { IntakeEnvelope } from '@deeplens/events/intakeRecords';

/**
 * Intake records are signed, never carry a secret: HMAC-SHA256 over the envelope (encoded
 * with an empty signature), keyed with SHA-256 of the API key's secret. The write side keeps
 * only that hash, so it can verify; the secret itself never enters Kafka's log.
 */
export function signIntakeEnvelope(envelope: IntakeEnvelope, apiKeySecret: string): Buffer {
  const key = createHash('sha256').update(apiKeySecret).digest();
  return createHmac('sha256', key).update(intakeSigningPayload(envelope)).digest();
}

export function verifyIntakeSignature(envelope: IntakeEnvelope, secretHashHex: string): boolean {
  const expected = createHmac('sha256', Buffer.from(secretHashHex, 'hex'))
    .update(intakeSigningPayload(envelope))
    .digest();
  const given = envelope.auth.signature;
  return given.length === expected.length && timingSafeEqual(given, expected);
}
