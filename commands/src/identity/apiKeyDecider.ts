import type { ApiKeyEvent } from '@deeplens/events/identityEvents';
import type { Decider } from '../decider.ts';
import type { ApiKeyCommand } from './apiKeyCommands.ts';
import { evolveApiKey, initialApiKeyState, type ApiKeyState } from './apiKeyState.ts';
import { decideApiKey } from './decideApiKey.ts';

export const apiKeyDecider: Decider<ApiKeyState, ApiKeyCommand, ApiKeyEvent> = {
  aggregateType: 'apiKey',
  aggregateIdOf: (command) => command.data.keyId,
  initialState: initialApiKeyState,
  evolve: evolveApiKey,
  decide: decideApiKey,
};
