import type { UserEvent } from '@deeplens/events/identityEvents';
import type { Decider } from '../decider.ts';
import { decideUser } from './decideUser.ts';
import type { UserCommand } from './userCommands.ts';
import { evolveUser, initialUserState, type UserState } from './userState.ts';

export const userDecider: Decider<UserState, UserCommand, UserEvent> = {
  aggregateType: 'user',
  aggregateIdOf: (command) => command.data.userId,
  initialState: initialUserState,
  evolve: evolveUser,
  decide: decideUser,
};
