import type { TenantEvent } from '@deeplens/events/tenantEvents';
import type { Decider } from '../decider.ts';
import { decideTenant } from './decideTenant.ts';
import type { TenantCommand } from './tenantCommands.ts';
import { evolveTenant, initialTenantState, type TenantState } from './tenantState.ts';

export const tenantDecider: Decider<TenantState, TenantCommand, TenantEvent> = {
  aggregateType: 'tenant',
  aggregateIdOf: (command) => command.data.tenantId,
  initialState: initialTenantState,
  evolve: evolveTenant,
  decide: decideTenant,
};
