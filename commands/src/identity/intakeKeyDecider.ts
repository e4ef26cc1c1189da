import type { IntakeKeyEvent } from '@deeplens/events/identityEvents';
import type { Decider } from '../decider.ts';
import { decideIntakeKey } from './decideIntakeKey.ts';
import type { IntakeKeyCommand } from './intakeKeyCommands.ts';
import { evolveIntakeKey, initialIntakeKeyState, type IntakeKeyState } from './intakeKeyState.ts';

export const intakeKeyDecider: Decider<IntakeKeyState, IntakeKeyCommand, IntakeKeyEvent> = {
  aggregateType: 'intakeKey',
  aggregateIdOf: (command) => command.data.keyId,
  initialState: initialIntakeKeyState,
  evolve: evolveIntakeKey,
  decide: decideIntakeKey,
};
