import type { Command } from '../command.ts';

/** The integration keeps the private key; only the public one (SPKI PEM) comes here. */
export type RegisterIntakeKey = Command<
  'RegisterIntakeKey',
  { keyId: string; tenantId: string; name?: string; publicKey: string }
>;

/** `tenantId` is the caller's scope: another tenant's key answers NotFoundError. */
export type RevokeIntakeKey = Command<
  'RevokeIntakeKey',
  { keyId: string; tenantId: string; reason?: string }
>;

export type IntakeKeyCommand = RegisterIntakeKey | RevokeIntakeKey;
