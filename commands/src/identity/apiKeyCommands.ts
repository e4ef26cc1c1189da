import type { Command } from '../command.ts';

/** The handler generates the secret, shows it once, and passes only its prefix and hash here. */
export type IssueApiKey = Command<
  'IssueApiKey',
  {
    keyId: string;
    tenantId: string;
    name?: string;
    /** The key's first 8 characters. */
    prefix: string;
    /** Lower-case hex SHA-256 of the secret. */
    secretHash: string;
    scopes: string[];
    /** Epoch milliseconds; absent or null never expires. */
    expiresAt?: number | null;
  }
>;

/** `tenantId` is the caller's scope: another tenant's key answers NotFoundError. */
export type RevokeApiKey = Command<'RevokeApiKey', { keyId: string; tenantId: string; reason?: string }>;

export type ApiKeyCommand = IssueApiKey | RevokeApiKey;
