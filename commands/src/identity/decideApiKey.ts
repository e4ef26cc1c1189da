import { assertNever } from '@deeplens/events/assertNever';
import type { ApiKeyEvent } from '@deeplens/events/identityEvents';
import { ConflictError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import type { ApiKeyCommand, IssueApiKey } from './apiKeyCommands.ts';
import type { ApiKeyState } from './apiKeyState.ts';
import { emitEvents } from '../emitEvents.ts';

/**
 * An API key's rules. Whether the tenant exists and is active, and idempotency keys, are the
 * handler's and the write model's concern.
 */
export function decideApiKey(command: ApiKeyCommand, state: ApiKeyState): ApiKeyEvent[] {
  const { data, metadata: context } = command;
  switch (command.type) {
    case 'IssueApiKey': {
      if (state.status !== 'initial') throw new ConflictError(`API key ${data.keyId} already exists`);
      const { keyId, tenantId, name = '', prefix, secretHash, expiresAt = null } = command.data;
      assertValidKey(command.data, context.now);
      // A scope granted twice is granted once.
      const scopes = [...new Set(command.data.scopes)];
      return emitEvents<ApiKeyEvent>(context, { aggregateId: keyId, tenantId, version: 0 }, [
        { type: 'ApiKeyIssued', data: { keyId, tenantId, name, prefix, secretHash, scopes, expiresAt } },
      ]);
    }
    case 'RevokeApiKey': {
      // Another tenant's key answers as if it did not exist, so existence never leaks.
      if (state.status === 'initial' || state.tenantId !== command.data.tenantId) {
        throw new NotFoundError(`API key ${data.keyId} not found`);
      }
      if (state.status === 'revoked') return [];
      const { keyId, tenantId, prefix, version } = state;
      return emitEvents<ApiKeyEvent>(context, { aggregateId: keyId, tenantId, version }, [
        { type: 'ApiKeyRevoked', data: { keyId, tenantId, prefix, reason: command.data.reason ?? null } },
      ]);
    }
    default:
      return assertNever(command, 'API key command');
  }
}

function assertValidKey({ prefix, secretHash, scopes, expiresAt }: IssueApiKey['data'], now: number): void {
  if (prefix.length !== 8)
    throw new ValidationError('An API key prefix has 8 characters', { detail: { prefix } });
  if (!/^[0-9a-f]{64}$/.test(secretHash)) {
    throw new ValidationError('An API key secret hash is a lower-case hex SHA-256');
  }
  if (scopes.length === 0) throw new ValidationError('An API key needs at least one scope');
  if (expiresAt != null && expiresAt <= now) {
    throw new ValidationError('An API key cannot expire in the past', { detail: { expiresAt } });
  }
}
