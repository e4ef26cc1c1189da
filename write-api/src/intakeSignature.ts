import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { intakeSigningPayload } from '@deeplens/events/eventCodec';

/**
 * Intake records are signed with an integration's Ed25519 private key, which never leaves the
 * integration; DeepLens keeps (and publishes in `IntakeKeyRegistered`) only the public key, so
 * nothing in the log or the write model can make a signature. The signature covers the
 * record's value as produced (`intakeSigningPayload`: schema id and Avro body) and is checked
 * before the value is decoded.
 */
export function signIntakeRecord(recordValue: Buffer, privateKey: KeyObject): Buffer {
  return sign(null, intakeSigningPayload(recordValue), privateKey);
}

const publicKeys = new Map<string, KeyObject>();

/** True when `signature` is the Ed25519 signature of `recordValue` by `publicKeyPem`'s key. */
export function verifyIntakeSignature(recordValue: Buffer, signature: Buffer, publicKeyPem: string): boolean {
  if (signature.length !== 64) return false;
  let key = publicKeys.get(publicKeyPem);
  if (!key) {
    key = createPublicKey({ key: publicKeyPem, format: 'pem' });
    if (publicKeys.size > 10_000) publicKeys.clear();
    publicKeys.set(publicKeyPem, key);
  }
  return verify(null, intakeSigningPayload(recordValue), key, signature);
}
