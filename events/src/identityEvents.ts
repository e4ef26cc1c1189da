import type { Event } from './event.ts';

export type UserRole = 'platform_admin' | 'tenant_admin' | 'tenant_user';

/** Carries the password hash, never the password. `tenantId` is null for platform admins. */
export type UserRegistered = Event<
  'UserRegistered',
  { userId: string; tenantId: string | null; email: string; passwordHash: string; role: UserRole }
>;

export type UserRoleChanged = Event<
  'UserRoleChanged',
  { userId: string; tenantId: string | null; role: UserRole; previousRole: UserRole }
>;

export type UserDisabled = Event<
  'UserDisabled',
  { userId: string; tenantId: string | null; reason: string | null }
>;

/**
 * The user's data key was destroyed (crypto-shredding): their e-mail and password hash read as
 * erased in the log from now on, and every copy outside it (write model, read models) is to be
 * overwritten with the erased placeholders. Carries no personal data. The user stays disabled.
 */
export type UserErased = Event<'UserErased', { userId: string; tenantId: string | null }>;

/** Carries the secret's SHA-256 (lower-case hex), never the secret. */
export type ApiKeyIssued = Event<
  'ApiKeyIssued',
  {
    keyId: string;
    tenantId: string;
    name: string;
    /** The key's first 8 characters: shown in listings, used to find the key. */
    prefix: string;
    secretHash: string;
    scopes: string[];
    /** Epoch milliseconds; null never expires. */
    expiresAt: number | null;
  }
>;

export type ApiKeyRevoked = Event<
  'ApiKeyRevoked',
  { keyId: string; tenantId: string; prefix: string; reason: string | null }
>;

/**
 * An integration's Ed25519 public key (SPKI PEM) may sign intake records for its tenant. Only
 * the public key enters the log: nothing in it can make a signature.
 */
export type IntakeKeyRegistered = Event<
  'IntakeKeyRegistered',
  { keyId: string; tenantId: string; name: string; algorithm: 'Ed25519'; publicKey: string }
>;

export type IntakeKeyRevoked = Event<
  'IntakeKeyRevoked',
  { keyId: string; tenantId: string; reason: string | null }
>;

/** Intake keys are their own aggregate on `deeplens.identity.v1`, apart from users and API keys. */
export type IntakeKeyEvent = IntakeKeyRegistered | IntakeKeyRevoked;

export type UserEvent = UserRegistered | UserRoleChanged | UserDisabled | UserErased;
export type ApiKeyEvent = ApiKeyIssued | ApiKeyRevoked;
/** Users and API keys share the `deeplens.identity.v1` topic; each is its own aggregate. */
export type IdentityEvent = UserEvent | ApiKeyEvent;
