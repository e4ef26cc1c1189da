import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import type { IntakeKeyEvent } from '@deeplens/events/identityEvents';
import { ConflictError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { deciderSpec } from '../testing/deciderSpec.ts';
import { testContext, testMetadata } from '../testing/testContext.ts';
import type { IntakeKeyCommand, RegisterIntakeKey } from './intakeKeyCommands.ts';
import { intakeKeyDecider } from './intakeKeyDecider.ts';

const { given } = deciderSpec(intakeKeyDecider);
const keyId = 'intake-key-1';
const tenantId = 'tenant-1';
const metadata = testContext();
const publicKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

const register: RegisterIntakeKey = {
  type: 'RegisterIntakeKey',
  data: { keyId, tenantId, name: 'catalogue sync', publicKey },
  metadata,
};
const registered: IntakeKeyEvent = {
  type: 'IntakeKeyRegistered',
  data: { keyId, tenantId, name: 'catalogue sync', algorithm: 'Ed25519', publicKey },
  metadata: testMetadata(keyId, 1, tenantId),
};
const revoke: IntakeKeyCommand = { type: 'RevokeIntakeKey', data: { keyId, tenantId }, metadata };
const revoked: IntakeKeyEvent = {
  type: 'IntakeKeyRevoked',
  data: { keyId, tenantId, reason: null },
  metadata: testMetadata(keyId, 2, tenantId),
};

describe('RegisterIntakeKey', () => {
  it('registers the public key, and only the public key', () => {
    given([]).when(register).then([registered]);
  });

  it('refuses an existing key', () => {
    given([registered]).when(register).then(ConflictError);
  });

  it('refuses what is not a PEM public key', () => {
    given([])
      .when({ ...register, data: { ...register.data, publicKey: 'not a key' } })
      .then(ValidationError, /Ed25519 public key/);
  });

  it('refuses a private key', () => {
    const privateKey = generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    given([])
      .when({ ...register, data: { ...register.data, publicKey: privateKey } })
      .then(ValidationError);
  });

  it('refuses a key of another algorithm', () => {
    const rsa = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    given([])
      .when({ ...register, data: { ...register.data, publicKey: rsa } })
      .then(ValidationError, /Ed25519/);
  });
});

describe('RevokeIntakeKey', () => {
  it('revokes a key', () => {
    given([registered]).when(revoke).then([revoked]);
  });

  it('is a no-op on a revoked key', () => {
    given([registered, revoked]).when(revoke).then([]);
  });

  it("answers another tenant's key as not found", () => {
    given([registered])
      .when({ ...revoke, data: { keyId, tenantId: 'tenant-2' } })
      .then(NotFoundError);
  });
});
