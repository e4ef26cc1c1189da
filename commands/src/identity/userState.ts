import { assertNever } from '@deeplens/events/assertNever';
import type { UserEvent, UserRole } from '@deeplens/events/identityEvents';
import { erasedEmail } from '@deeplens/events/personalData';

export type RegisteredUser = {
  status: 'active' | 'disabled';
  version: number;
  userId: string;
  tenantId: string | null;
  email: string;
  /** The memory-hard hash sign-in verifies against (never the password). */
  passwordHash: string;
  role: UserRole;
  /** Set by `UserErased`: the data key is destroyed, the e-mail and hash are placeholders. */
  erased?: true;
};

export type UserState = { status: 'initial'; version: number } | RegisteredUser;

export function initialUserState(): UserState {
  return { status: 'initial', version: 0 };
}

export function evolveUser(state: UserState, event: UserEvent): UserState {
  const version = event.metadata.aggregateVersion;
  if (event.type === 'UserRegistered') {
    const { userId, tenantId, email, passwordHash, role } = event.data;
    return { status: 'active', version, userId, tenantId, email, passwordHash, role };
  }
  if (state.status === 'initial') return { ...state, version };
  switch (event.type) {
    case 'UserRoleChanged':
      return { ...state, version, role: event.data.role };
    case 'UserDisabled':
      return { ...state, version, status: 'disabled' };
    case 'UserErased':
      return {
        ...state,
        version,
        status: 'disabled',
        email: erasedEmail(state.userId),
        passwordHash: '',
        erased: true,
      };
    default:
      return assertNever(event, 'user event');
  }
}
