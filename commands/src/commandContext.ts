/** Who issued a command: a user, an API key, or one of our own processes. */
export type Actor = `user:${string}` | `apikey:${string}` | `system:${string}`;

/**
 * Everything impure a decision needs, supplied by the command handler so that `decide` stays
 * a pure function of (command, state): the clock, the new events' ids, and the causal chain.
 * Travels as `command.metadata`.
 */
export type CommandContext = {
  /** Epoch milliseconds; becomes every new event's `occurredAt`. */
  now: number;
  /**
   * Ids for the events the decision emits, used in order. Supply `maxEventsPerDecision` fresh
   * UUIDs (or ids derived from an idempotency key, so a retried command keeps its event ids).
   */
  eventIds: readonly string[];
  correlationId: string;
  /** The request, intake record or event that caused the command. */
  causationId: string | null;
  actor: Actor;
};

/** The most events any decider emits for one command (ProvisionTenant with storage: 2). */
export const maxEventsPerDecision = 2;
