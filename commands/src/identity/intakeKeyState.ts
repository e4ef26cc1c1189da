import { assertNever } from '@deeplens/events/assertNever';
import type { IntakeKeyEvent } from '@deeplens/events/identityEvents';

export type RegisteredIntakeKey = {
  status: 'active' | 'revoked';
  version: number;
  keyId: string;
  tenantId: string;
  name: string;
  algorithm: 'Ed25519';
  /** SPKI PEM: what intake verifies a record's signature with. */
  publicKey: string;
};

export type IntakeKeyState = { status: 'initial'; version: number } | RegisteredIntakeKey;

export function initialIntakeKeyState(): IntakeKeyState {
  return { status: 'initial', version: 0 };
}

export function evolveIntakeKey(state: IntakeKeyState, event: IntakeKeyEvent): IntakeKeyState {
  const version = event.metadata.aggregateVersion;
  switch (event.type) {
    case 'IntakeKeyRegistered': {
      const { keyId, tenantId, name, algorithm, publicKey } = event.data;
      return { status: 'active', version, keyId, tenantId, name, algorithm, publicKey };
    }
    case 'IntakeKeyRevoked':
      return state.status === 'initial' ? { ...state, version } : { ...state, version, status: 'revoked' };
    default:
      return assertNever(event, 'intake key event');
  }
}
