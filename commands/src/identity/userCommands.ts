import type { UserRole } from '@deeplens/events/identityEvents';
import type { Command } from '../command.ts';

export type RegisterUser = Command<
  'RegisterUser',
  {
    /** Chosen by the handler (a fresh UUID). */
    userId: string;
    /** Null exactly for platform admins. */
    tenantId: string | null;
    email: string;
    /** Hashed by the handler; the password itself never reaches a command or an event. */
    passwordHash: string;
    role: UserRole;
  }
>;

export type ChangeUserRole = Command<'ChangeUserRole', { userId: string; role: UserRole }>;

export type DisableUser = Command<'DisableUser', { userId: string; reason?: string }>;

/** Records that the user's data key is destroyed; issued by the erasure after the key is gone. */
export type EraseUser = Command<'EraseUser', { userId: string }>;

export type UserCommand = RegisterUser | ChangeUserRole | DisableUser | EraseUser;
