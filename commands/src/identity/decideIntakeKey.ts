import { createPublicKey } from 'node:crypto';
import { assertNever } from '@deeplens/events/assertNever';
import type { IntakeKeyEvent } from '@deeplens/events/identityEvents';
import { ConflictError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { emitEvents } from '../emitEvents.ts';
import type { IntakeKeyCommand } from './intakeKeyCommands.ts';
import type { IntakeKeyState } from './intakeKeyState.ts';

/**
 * An intake key's rules: an Ed25519 public key, registered once, revoked for good. Whether the
 * tenant exists and is active is the handler's concern.
 */
export function decideIntakeKey(command: IntakeKeyCommand, state: IntakeKeyState): IntakeKeyEvent[] {
  const { data, metadata: context } = command;
  switch (command.type) {
    case 'RegisterIntakeKey': {
      if (state.status !== 'initial') throw new ConflictError(`intake key ${data.keyId} already exists`);
      const { keyId, tenantId, name = '', publicKey } = command.data;
      assertEd25519PublicKey(publicKey);
      return emitEvents<IntakeKeyEvent>(context, { aggregateId: keyId, tenantId, version: 0 }, [
        { type: 'IntakeKeyRegistered', data: { keyId, tenantId, name, algorithm: 'Ed25519', publicKey } },
      ]);
    }
    case 'RevokeIntakeKey': {
      // Another tenant's key answers as if it did not exist, so existence never leaks.
      if (state.status === 'initial' || state.tenantId !== command.data.tenantId) {
        throw new NotFoundError(`intake key ${data.keyId} not found`);
      }
      if (state.status === 'revoked') return [];
      const { keyId, tenantId, version } = state;
      return emitEvents<IntakeKeyEvent>(context, { aggregateId: keyId, tenantId, version }, [
        { type: 'IntakeKeyRevoked', data: { keyId, tenantId, reason: command.data.reason ?? null } },
      ]);
    }
    default:
      return assertNever(command, 'intake key command');
  }
}

/** Exactly the SPKI PEM of an Ed25519 public key, as Node writes it (never a private key). */
function assertEd25519PublicKey(pem: string): void {
  let key;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new ValidationError('An intake key is an Ed25519 public key in SPKI PEM', { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ValidationError('An intake key is an Ed25519 public key', {
      detail: { keyType: key.asymmetricKeyType ?? null },
    });
  }
  if (key.export({ type: 'spki', format: 'pem' }).toString() !== pem) {
    throw new ValidationError('An intake key is an Ed25519 public key in SPKI PEM');
  }
}
