import type { DomainEvent } from '@deeplens/events/domainEvent';
import { UnprocessableError } from '@deeplens/platform/errors';
import { writeModelAggregateOf } from './writeModelAggregates.ts';

/** Where a record sits in the log; printed as `topic:partition:offset`. */
export type LogPosition = { topic: string; partition: number; offset: string };

export function formatPosition({ topic, partition, offset }: LogPosition): string {
  return `${topic}:${partition}:${offset}`;
}

/** One row of `write.aggregates` as the log says it should be. */
export type FoldedAggregate = {
  aggregateType: string;
  aggregateId: string;
  /** The first event's tenant, as the command handler stores it when it inserts the row. */
  tenantId: string | null;
  version: number;
  state: { version: number };
  /** Epoch milliseconds of the last event. */
  updatedAt: number;
  lastEventId: string;
};

export type FoldedReservation = { kind: string; value: string; aggregateId: string };

/** Two aggregates claim one unique value (a log written while the write model was lost). */
export type ReservationClash = {
  kind: string;
  value: string;
  /** The earliest claim, which keeps the value. */
  keptBy: string;
  /** Later claims, which exist as aggregates but hold nothing. */
  alsoClaimedBy: string[];
};

export type FoldedWriteModel = {
  aggregates: FoldedAggregate[];
  reservations: FoldedReservation[];
  clashes: ReservationClash[];
  usage: Map<string, { images: number; bytes: number }>;
};

type Claim = { held: boolean; claimedAt: number };

/**
 * The write model folded from the log, event by event, through the same `evolve` functions and
 * write-model rules the command handler uses. One aggregate's events must arrive in log order
 * (they share a partition); partitions may interleave freely, because what crosses aggregates
 * (reservations, usage) is kept per aggregate and settled at the end.
 *
 * A republished event (the relay's at-least-once delivery) is recognised by its version and
 * skipped. A version gap, or another event under a version already folded, means the log is not
 * what the write model appended: that stops the fold, naming the record.
 */
export function createWriteModelFold() {
  const aggregates = new Map<string, FoldedAggregate>();
  // kind \0 value → aggregate id → claim
  const claims = new Map<string, Map<string, Claim>>();
  const usage = new Map<string, { images: number; bytes: number }>();
  let applied = 0;
  let duplicates = 0;

  function apply(event: DomainEvent, position: LogPosition): 'applied' | 'duplicate' {
    const aggregate = writeModelAggregateOf(event.type);
    if (!aggregate) {
      throw new UnprocessableError(
        `${formatPosition(position)}: ${event.type} belongs to no aggregate of the write model`,
        { detail: { position: formatPosition(position) } },
      );
    }
    const { decider, rules } = aggregate;
    const { aggregateId, aggregateVersion, eventId, occurredAt, tenantId } = event.metadata;
    const key = `${decider.aggregateType}\0${aggregateId}`;
    const current = aggregates.get(key);
    const version = current?.version ?? 0;
    if (aggregateVersion <= version) {
      if (aggregateVersion === version && current?.lastEventId !== eventId) {
        throw new UnprocessableError(
          `${formatPosition(position)}: ${decider.aggregateType} ${aggregateId} has two different events at version ${version} (${current?.lastEventId} and ${eventId})`,
          { detail: { position: formatPosition(position), aggregateId, version } },
        );
      }
      duplicates++;
      return 'duplicate';
    }
    if (aggregateVersion !== version + 1) {
      throw new UnprocessableError(
        `${formatPosition(position)}: ${decider.aggregateType} ${aggregateId} jumps from version ${version} to ${aggregateVersion}: events are missing from the log`,
        { detail: { position: formatPosition(position), aggregateId, version, aggregateVersion } },
      );
    }
    const state = decider.evolve(current?.state ?? decider.initialState(), event);
    aggregates.set(key, {
      aggregateType: decider.aggregateType,
      aggregateId,
      tenantId: current ? current.tenantId : tenantId,
      version: state.version,
      state,
      updatedAt: occurredAt,
      lastEventId: eventId,
    });
    for (const reservation of rules.reservations?.(event) ?? []) {
      const slot = `${reservation.kind}\0${reservation.value}`;
      let holders = claims.get(slot);
      if (!holders) claims.set(slot, (holders = new Map<string, Claim>()));
      if (reservation.release) {
        const claim = holders.get(aggregateId);
        if (claim) claim.held = false;
      } else {
        holders.set(aggregateId, { held: true, claimedAt: occurredAt });
      }
    }
    const change = rules.usage?.(event);
    if (change?.kind === 'count') {
      const counted = usage.get(change.tenantId) ?? { images: 0, bytes: 0 };
      counted.images += change.images;
      counted.bytes += change.bytes;
      usage.set(change.tenantId, counted);
    }
    applied++;
    return 'applied';
  }

  function result(): FoldedWriteModel {
    const reservations: FoldedReservation[] = [];
    const clashes: ReservationClash[] = [];
    for (const [slot, holders] of claims) {
      const [kind = '', value = ''] = slot.split('\0');
      const held = [...holders]
        .filter(([, claim]) => claim.held)
        .sort(([a, x], [b, y]) => x.claimedAt - y.claimedAt || a.localeCompare(b));
      const [first, ...rest] = held;
      if (!first) continue;
      reservations.push({ kind, value, aggregateId: first[0] });
      if (rest.length > 0)
        clashes.push({ kind, value, keptBy: first[0], alsoClaimedBy: rest.map(([id]) => id) });
    }
    return { aggregates: [...aggregates.values()], reservations, clashes, usage };
  }

  return {
    apply,
    result,
    /** Events folded so far (republished duplicates not counted). */
    get applied() {
      return applied;
    },
    /** Republished events recognised and skipped. */
    get duplicates() {
      return duplicates;
    },
  };
}

export type WriteModelFold = ReturnType<typeof createWriteModelFold>;
