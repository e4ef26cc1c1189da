import type { DomainEvent } from '@deeplens/events/domainEvent';
import type { CommandContext } from './commandContext.ts';

/** An event before it has metadata: what a decider chooses to say. */
export type EventDraft<E extends DomainEvent> = E extends DomainEvent
  ? { type: E['type']; data: E['data'] }
  : never;

/** Where the new events go: the aggregate, its tenant, and its version before them. */
export type StreamPosition = { aggregateId: string; tenantId: string | null; version: number };

/** Stamps drafts with metadata from the command's context; versions continue `stream.version`. */
export function emitEvents<E extends DomainEvent>(
  context: CommandContext,
  stream: StreamPosition,
  drafts: ReadonlyArray<EventDraft<E>>,
): E[] {
  return drafts.map((draft, index) => {
    const eventId = context.eventIds[index];
    if (eventId === undefined) {
      throw new Error(
        `The command context has ${context.eventIds.length} event ids, ${drafts.length} needed`,
      );
    }
    const metadata = {
      eventId,
      aggregateId: stream.aggregateId,
      aggregateVersion: stream.version + index + 1,
      tenantId: stream.tenantId,
      occurredAt: context.now,
      correlationId: context.correlationId,
      causationId: context.causationId,
      actor: context.actor,
    };
    return { type: draft.type, data: draft.data, metadata } as E;
  });
}
