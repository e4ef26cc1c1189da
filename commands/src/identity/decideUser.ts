import { assertNever } from '@deeplens/events/assertNever';
import type { UserEvent, UserRole } from '@deeplens/events/identityEvents';
import { ConflictError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import type { CommandContext } from '../commandContext.ts';
import { emitEvents, type EventDraft } from '../emitEvents.ts';
import type { UserCommand } from './userCommands.ts';
import type { UserState } from './userState.ts';

/**
 * A user's rules. E-mail uniqueness and idempotency keys are not the decider's: the write model
 * enforces them in the same transaction that appends the events. Who may act on which user
 * (a tenant admin only on its own tenant's users) is the handler's authorisation.
 */
export function decideUser(command: UserCommand, state: UserState): UserEvent[] {
  const { data, metadata: context } = command;
  if (command.type === 'RegisterUser') {
    if (state.status !== 'initial') throw new ConflictError(`User ${data.userId} already exists`);
    const { userId, tenantId, email, passwordHash, role } = command.data;
    assertRoleFitsTenant(role, tenantId);
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new ValidationError(`Not an e-mail address: ${email}`);
    if (passwordHash === '') throw new ValidationError('A user needs a password hash');
    return emit(context, { userId, tenantId, version: 0 }, [
      { type: 'UserRegistered', data: { userId, tenantId, email, passwordHash, role } },
    ]);
  }

  if (state.status === 'initial') throw new NotFoundError(`User ${data.userId} not found`);
  const { userId, tenantId, role: previousRole } = state;
  switch (command.type) {
    case 'ChangeUserRole': {
      const { role } = command.data;
      if (state.status === 'disabled') throw new ConflictError(`User ${userId} is disabled`);
      if (role === previousRole) return [];
      assertRoleFitsTenant(role, tenantId);
      return emit(context, state, [
        { type: 'UserRoleChanged', data: { userId, tenantId, role, previousRole } },
      ]);
    }
    case 'DisableUser':
      if (state.status === 'disabled') return [];
      return emit(context, state, [
        { type: 'UserDisabled', data: { userId, tenantId, reason: command.data.reason ?? null } },
      ]);
    case 'EraseUser':
      // Erasing twice changes nothing: the second DELETE finds the user already erased.
      if (state.erased) return [];
      return emit(context, state, [{ type: 'UserErased', data: { userId, tenantId } }]);
    default:
      return assertNever(command, 'user command');
  }
}

/** Platform admins belong to no tenant; every other user to exactly one. */
function assertRoleFitsTenant(role: UserRole, tenantId: string | null): void {
  if ((role === 'platform_admin') !== (tenantId === null)) {
    throw new ValidationError(
      role === 'platform_admin'
        ? 'A platform admin belongs to no tenant'
        : `A ${role} belongs to a tenant; a platform admin cannot become one`,
      { detail: { role, tenantId } },
    );
  }
}

function emit(
  context: CommandContext,
  { userId, tenantId, version }: { userId: string; tenantId: string | null; version: number },
  drafts: Array<EventDraft<UserEvent>>,
): UserEvent[] {
  return emitEvents<UserEvent>(context, { aggregateId: userId, tenantId, version }, drafts);
}
