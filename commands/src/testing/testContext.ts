import type { EventMetadata } from '@deeplens/events/event';
import type { CommandContext } from '../commandContext.ts';

/** A fixed clock and fixed ids, so decider tests can spell out the exact events they expect. */
export const testNow = Date.UTC(2025, 5, 1, 12, 0, 0);

export const testEventIds = [
  '00000000-0000-4000-8000-000000000001',
  '00000000-0000-4000-8000-000000000002',
] as const;

export function testContext(overrides: Partial<CommandContext> = {}): CommandContext {
  return {
    now: testNow,
    eventIds: testEventIds,
    correlationId: 'corr-0001',
    causationId: 'req-0001',
    actor: 'user:tester',
    ...overrides,
  };
}

/** The metadata `decide` stamps on its `index`-th event under `testContext()`. */
export function testMetadata(
  aggregateId: string,
  aggregateVersion: number,
  tenantId: string | null,
  index = 0,
): EventMetadata {
  const context = testContext();
  return {
    eventId: context.eventIds[index] ?? `00000000-0000-4000-8000-${String(index + 1).padStart(12, '0')}`,
    aggregateId,
    aggregateVersion,
    tenantId,
    occurredAt: context.now,
    correlationId: context.correlationId,
    causationId: context.causationId,
    actor: context.actor,
  };
}
