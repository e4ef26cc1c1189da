import { assertNever } from '@deeplens/events/assertNever';
import type { ApiKeyEvent } from '@deeplens/events/identityEvents';

export type IssuedApiKey = {
  status: 'active' | 'revoked';
  version: number;
  keyId: string;
  tenantId: string;
  prefix: string;
  /** Hex SHA-256 of the secret: what authentication compares against (never the secret). */
  secretHash: string;
  scopes: string[];
  expiresAt: number | null;
};

export type ApiKeyState = { status: 'initial'; version: number } | IssuedApiKey;

export function initialApiKeyState(): ApiKeyState {
  return { status: 'initial', version: 0 };
}

export function evolveApiKey(state: ApiKeyState, event: ApiKeyEvent): ApiKeyState {
  const version = event.metadata.aggregateVersion;
  switch (event.type) {
    case 'ApiKeyIssued': {
      const { keyId, tenantId, prefix, secretHash, scopes, expiresAt } = event.data;
      return { status: 'active', version, keyId, tenantId, prefix, secretHash, scopes, expiresAt };
    }
    case 'ApiKeyRevoked':
      return state.status === 'initial' ? { ...state, version } : { ...state, version, status: 'revoked' };
    default:
      return assertNever(event, 'API key event');
  }
}
