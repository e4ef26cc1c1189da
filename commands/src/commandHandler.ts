import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import { encodeEvent } from '@deeplens/events/eventCodec';
import type { DeepLensEvent, DomainEvent } from '@deeplens/events/domainEvent';
import { topicOf } from '@deeplens/events/topics';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import {
  ConcurrencyError,
  ConflictError,
  DeepLensError,
  UnprocessableError,
} from '@deeplens/platform/errors';
import { deterministicUuid, randomUUID } from '@deeplens/platform/ids';
import { traceHeaders, withSpan } from '@deeplens/platform/telemetry';
import type { Command } from './command.ts';
import { maxEventsPerDecision, type Actor, type CommandContext } from './commandContext.ts';
import type { Decider } from './decider.ts';
import { createOutboxSignal, type OutboxSignal } from './outbox/outboxSignal.ts';
import { changeUsage, type UsageChange } from './usageStripes.ts';

/** The write model's migrations (`npm` processes run them at start-up). */
export const writeModelMigrations = join(import.meta.dirname, '..', 'migrations');

/** A value that must be unique across aggregates, claimed (or given back) by an event. */
export type Reservation = { kind: string; value: string; release?: boolean };

/** What the write model does beyond storing state and events, per aggregate. */
export type WriteModelRules<Cmd, Evt> = {
  reservations?: (event: Evt) => Reservation[];
  /** `command` is absent when the event is folded from the log (recovery): no limits to check. */
  usage?: (event: Evt, command?: Cmd) => UsageChange | undefined;
  /**
   * Its changes can end a credential (tenants, users, API keys): once one commits, the handler
   * tells this process's `credentialChanges` listeners, before the command returns (other
   * processes hear it from the write model's NOTIFY, `004_credential_changes.sql`).
   */
  changesCredentials?: boolean;
};

/**
 * This process's own commits of changes a credential stands on (an aggregate whose rules say
 * `changesCredentials`, a revoked session): a cache of what authentication reads listens, so
 * the change is honoured by the very next request, without waiting for the notification.
 */
export type CredentialChangeSignal = {
  /** Calls `listener` after each such commit, synchronously; returns its removal. */
  onChange(listener: () => void): () => void;
  /** Announces one such commit (the handler does, for its aggregates; the session store, for revocations). */
  changed(): void;
};

export function createCredentialChangeSignal(): CredentialChangeSignal {
  const listeners = new Set<() => void>();
  return {
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    changed() {
      for (const listener of listeners) listener();
    },
  };
}

/**
 * A decider bound to its write-model rules (emmett style): the command handler takes the rules
 * from it, so no call can forget them or pass another aggregate's.
 */
export type WriteModelDecider<State, Cmd, Evt> = Decider<State, Cmd, Evt> & {
  readonly rules: WriteModelRules<Cmd, Evt>;
};

// Each decider's rules, as bound: a decider handed over unbound must come with these very rules.
const boundRules = new WeakMap<object, WriteModelRules<never, never>>();

/** Binds a decider to its rules once; pass the result to `handle` and `load`. */
export function withRules<State, Cmd, Evt>(
  decider: Decider<State, Cmd, Evt>,
  rules: WriteModelRules<Cmd, Evt>,
): WriteModelDecider<State, Cmd, Evt> {
  boundRules.set(decider, rules);
  return Object.freeze({ ...decider, rules });
}

/** Who asked, and why: becomes the events' actor, correlation and causation ids. */
export type CommandOrigin = {
  actor: Actor;
  correlationId?: string;
  causationId?: string | null;
  /**
   * Scoped per caller, e.g. `tenant:<id>`; a retry with the same key gets the first answer.
   * `fingerprint` identifies what the client sent (defaults to a hash of the command); it must
   * leave out what the server adds (what it read, fresh ids), or a faithful retry would look
   * like a different request: an HTTP request's commands carry the request's own fingerprint.
   */
  idempotency?: {
    scope: string;
    key: string;
    fingerprint?: string;
    /**
     * The answer of the request (its bare key, in the same scope) this command completes, when
     * it is known before the command runs (an issued key's secret, drawn by the route): stored
     * in the command's own transaction, so no crash can leave the effect committed and the
     * answer lost. The request must have claimed its key (`claimRequest`).
     */
    requestAnswer?: { key: string; answer: RequestAnswer };
  };
  /** Refuse with a conflict unless the aggregate is still at this version (HTTP If-Match). */
  expectedVersion?: number;
  /** W3C trace context and the like, carried into the Kafka record headers. */
  headers?: Record<string, string>;
};

export type CommandResult = {
  aggregateId: string;
  /** The aggregate's version after the command. */
  version: number;
  eventIds: string[];
  eventTypes: string[];
  /** True when this is the stored answer to an earlier command with the same idempotency key. */
  replayed: boolean;
};

/**
 * The answer a request was given, kept under its idempotency key for a retry: the HTTP status,
 * the headers worth repeating, and the body sealed by the caller (it may hold a secret shown once).
 */
export type RequestAnswer = { status: number; headers: Record<string, string>; sealedBody: string };

/** What `claimRequest` found: the key is now this request's to run, already answered, or running. */
export type RequestClaim =
  { kind: 'claimed' } | { kind: 'answered'; answer: RequestAnswer } | { kind: 'running' };

/** A request's idempotency key: like a command's, scoped per caller, with what it was sent. */
export type RequestIdempotency = { scope: string; key: string; fingerprint: string };

const requestAnswer = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()),
  sealedBody: z.string(),
});

type StateWithVersion = { version: number };

const aggregateRow = z.object({ version: z.number(), state: z.unknown() });
const idempotencyRow = z.object({ request_hash: z.string(), response: z.unknown() });

export type CommandHandlerDependencies = {
  pool: DatabasePool;
  clock?: () => number;
  /** Wakes the outbox relay after a commit; by default a NOTIFY on `pool`. */
  outboxSignal?: OutboxSignal;
  /** Told of every commit that changes a credential (`WriteModelRules.changesCredentials`). */
  credentialChanges?: CredentialChangeSignal;
};

/**
 * Loads an aggregate, runs its pure decider and, in ONE transaction, stores the new state
 * (optimistic concurrency on the version), the events in the outbox, reservations, usage and
 * the idempotency key. A crash anywhere leaves either all of it or none of it.
 */
export function createCommandHandler({
  pool,
  clock = Date.now,
  outboxSignal = createOutboxSignal(pool),
  credentialChanges = createCredentialChangeSignal(),
}: CommandHandlerDependencies) {
  async function load<S extends StateWithVersion, C, E>(
    decider: Decider<S, C, E>,
    aggregateId: string,
  ): Promise<S> {
    const row = await pool.maybeOne(sql.type(aggregateRow)`
      select version, state from write.aggregates
      where aggregate_type = ${decider.aggregateType} and aggregate_id = ${aggregateId}`);
    return row ? (row.state as S) : decider.initialState();
  }

  /** The row stored under a key, refused (422) when it was stored for a different request. */
  async function storedRow(scope: string, key: string, requestHash: string) {
    const row = await pool.maybeOne(sql.type(idempotencyRow)`
      select request_hash, response from write.idempotency_keys where scope = ${scope} and key = ${key}`);
    if (row && row.request_hash !== requestHash) {
      throw new UnprocessableError('this Idempotency-Key was already used for a different request', {
        detail: { idempotencyKey: key },
      });
    }
    return row ?? undefined;
  }

  async function storedAnswer(
    scope: string,
    key: string,
    requestHash: string,
  ): Promise<CommandResult | undefined> {
    const row = await storedRow(scope, key, requestHash);
    return row ? { ...(row.response as CommandResult), replayed: true } : undefined;
  }

  /**
   * Claims a request's key before the request runs, in the same store as its commands' keys
   * (`write.idempotency_keys`, the request's row keyed by the bare key, its commands' rows by
   * `… key#index`): answered already (replay it), claimed by a request still running (409 for
   * the caller), or now this one's — also when an earlier claim is over a minute old with no
   * answer (its process died; its commands are idempotent by their own keys). The same key
   * with a different request is refused (422), as for a command.
   */
  async function claimRequest({ scope, key, fingerprint }: RequestIdempotency): Promise<RequestClaim> {
    const claimed = await pool.query(sql.typeAlias('void')`
      insert into write.idempotency_keys (scope, key, request_hash, response)
      values (${scope}, ${key}, ${fingerprint}, null)
      on conflict (scope, key) do update set created_at = now()
        where write.idempotency_keys.response is null
          and write.idempotency_keys.created_at < now() - interval '1 minute'
          and write.idempotency_keys.request_hash = excluded.request_hash`);
    if (claimed.rowCount === 1) return { kind: 'claimed' };
    const row = await storedRow(scope, key, fingerprint);
    // Gone between the two statements: a failed request gave its claim back; try again.
    if (!row) return claimRequest({ scope, key, fingerprint });
    if (row.response === null) return { kind: 'running' };
    return { kind: 'answered', answer: requestAnswer.parse(row.response) };
  }

  /**
   * Stores the answer of a request that claimed its key (`claimRequest`) and succeeded; a no-op
   * when its command stored it already (`idempotency.requestAnswer`).
   */
  async function answerRequest({ scope, key }: RequestIdempotency, answer: RequestAnswer): Promise<void> {
    await storeRequestAnswer(pool, scope, key, answer);
  }

  /** Gives a claimed key back (the request was refused, or failed): a retry may run afresh. */
  async function releaseRequest({ scope, key }: RequestIdempotency): Promise<void> {
    await pool.query(sql.typeAlias('void')`
      delete from write.idempotency_keys where scope = ${scope} and key = ${key} and response is null`);
  }

  /** Decides `request` with the decider's own rules (reservations, usage and limits). */
  function handle<S extends StateWithVersion, C extends Command<string, unknown>, E extends DomainEvent>(
    decider: WriteModelDecider<S, C, E>,
    request: Pick<C, 'type' | 'data'>,
    origin: CommandOrigin,
  ): Promise<CommandResult>;
  /**
   * @deprecated Pass the decider bound to its rules (`withRules`, e.g. `imageAggregate`). An
   * unbound decider must come with exactly the rules it was bound to, or the call throws.
   */
  function handle<S extends StateWithVersion, C extends Command<string, unknown>, E extends DomainEvent>(
    decider: Decider<S, C, E>,
    request: Pick<C, 'type' | 'data'>,
    origin: CommandOrigin,
    rules: WriteModelRules<C, E>,
  ): Promise<CommandResult>;
  function handle<S extends StateWithVersion, C extends Command<string, unknown>, E extends DomainEvent>(
    decider: Decider<S, C, E> | WriteModelDecider<S, C, E>,
    request: Pick<C, 'type' | 'data'>,
    origin: CommandOrigin,
    given?: WriteModelRules<C, E>,
  ): Promise<CommandResult> {
    const own = 'rules' in decider ? decider.rules : boundRules.get(decider);
    if (
      own &&
      given &&
      (given.reservations !== own.reservations ||
        given.usage !== own.usage ||
        given.changesCredentials !== own.changesCredentials)
    ) {
      return Promise.reject(
        new Error(`the ${decider.aggregateType} decider was given rules other than its own`),
      );
    }
    const rules = (own ?? given ?? {}) as WriteModelRules<C, E>;
    return withSpan(
      `command ${request.type}`,
      { attributes: { 'deeplens.aggregate': decider.aggregateType } },
      () => handleInSpan(decider, request, origin, rules),
    );
  }

  async function handleInSpan<
    S extends StateWithVersion,
    C extends Command<string, unknown>,
    E extends DomainEvent,
  >(
    decider: Decider<S, C, E>,
    request: Pick<C, 'type' | 'data'>,
    origin: CommandOrigin,
    rules: WriteModelRules<C, E>,
  ): Promise<CommandResult> {
    const { idempotency } = origin;
    const requestHash = idempotency?.fingerprint ?? hashRequest(request);
    if (idempotency) {
      const earlier = await storedAnswer(idempotency.scope, idempotency.key, requestHash);
      if (earlier) return earlier;
    }

    const context: CommandContext = {
      now: clock(),
      // Derived from the idempotency key, a retried command reuses the first attempt's ids.
      eventIds: Array.from({ length: maxEventsPerDecision }, (_, i) =>
        idempotency ? deterministicUuid(idempotency.scope, idempotency.key, String(i)) : randomUUID(),
      ),
      correlationId: origin.correlationId ?? randomUUID(),
      causationId: origin.causationId ?? null,
      actor: origin.actor,
    };
    const command = { ...request, metadata: context } as C;
    const aggregateId = decider.aggregateIdOf(command);
    const state = await load(decider, aggregateId);
    if (origin.expectedVersion !== undefined && origin.expectedVersion !== state.version) {
      throw new ConcurrencyError(
        `expected version ${origin.expectedVersion}, the aggregate is at ${state.version}`,
      );
    }
    let events: E[];
    try {
      events = decider.decide(command, state);
    } catch (error) {
      // A request with the same key may have committed between our look for its answer and
      // our load: the state we decided on already holds its effect (a provisioned tenant says
      // "already exists"). Its answer is the answer.
      const earlier = idempotency && (await storedAnswer(idempotency.scope, idempotency.key, requestHash));
      if (earlier) return earlier;
      throw error;
    }
    const newState = events.reduce(decider.evolve, state);
    const result: CommandResult = {
      aggregateId,
      version: newState.version,
      eventIds: events.map((e) => e.metadata.eventId),
      eventTypes: events.map((e) => e.type),
      replayed: false,
    };

    // The trace context of the request travels with the events, through Kafka, to every consumer.
    const headers = origin.headers ?? traceHeaders();
    try {
      await pool.transaction(async (tx) => {
        if (events.length > 0) {
          const tenantId = events[0]!.metadata.tenantId;
          const stored =
            state.version === 0
              ? await tx.query(sql.typeAlias('void')`
                  insert into write.aggregates (aggregate_type, aggregate_id, tenant_id, version, state)
                  values (${decider.aggregateType}, ${aggregateId}, ${tenantId}, ${newState.version}, ${sql.jsonb(newState as never)})
                  on conflict do nothing`)
              : await tx.query(sql.typeAlias('void')`
                  update write.aggregates
                  set version = ${newState.version}, state = ${sql.jsonb(newState as never)}, updated_at = now()
                  where aggregate_type = ${decider.aggregateType} and aggregate_id = ${aggregateId}
                    and version = ${state.version}`);
          if (stored.rowCount !== 1) {
            throw new ConcurrencyError(
              `${decider.aggregateType} ${aggregateId} was changed by another command`,
              {
                detail: { aggregateId, expectedVersion: state.version },
              },
            );
          }
          for (const event of events) {
            for (const reservation of rules.reservations?.(event) ?? []) {
              await reserve(tx, reservation, aggregateId);
            }
            await appendToOutbox(tx, event, decider.aggregateType, headers);
          }
        }
        if (idempotency) {
          await tx.query(sql.typeAlias('void')`
            insert into write.idempotency_keys (scope, key, request_hash, response)
            values (${idempotency.scope}, ${idempotency.key}, ${requestHash}, ${sql.jsonb(result)})`);
          const { requestAnswer } = idempotency;
          if (requestAnswer)
            await storeRequestAnswer(tx, idempotency.scope, requestAnswer.key, requestAnswer.answer);
        }
        // Usage last: its row (a stripe shared with other uploads of the tenant) stays locked
        // from here to the commit, so nothing else should run while it is held.
        for (const event of events) {
          const usage = rules.usage?.(event, command);
          if (usage) await changeUsage(tx, usage);
        }
      });
    } catch (error) {
      // A request with the same key raced us and won (we lost on its aggregate row or on the
      // key itself, after it committed): its answer is the answer.
      if (
        idempotency &&
        (error instanceof ConcurrencyError || error instanceof UniqueIntegrityConstraintViolationError)
      ) {
        const earlier = await storedAnswer(idempotency.scope, idempotency.key, requestHash);
        if (earlier) return earlier;
      }
      throw error;
    }
    if (events.length > 0) outboxSignal.appended();
    if (events.length > 0 && rules.changesCredentials) credentialChanges.changed();
    return result;
  }

  /**
   * Decides several commands on distinct aggregates of one decider and stores them in ONE
   * transaction: the idempotency answers and the states are read with one query each, and
   * the new states, outbox events and idempotency keys are written with one statement each —
   * a handful of round trips for the group instead of eight per command. Each command is
   * answered as `handle` answers it (its own result or error, in order): whatever the group
   * path does not decide as plainly as that — a refusal, a stored answer for a different
   * request, an expected version, two commands on one aggregate, a concurrent change, a key
   * stored meanwhile — goes through `handle` one by one, which has the rules for it. A crash
   * leaves all of the group or none of it; every command stays idempotent by its own key.
   */
  async function handleGroup<
    S extends StateWithVersion,
    C extends Command<string, unknown>,
    E extends DomainEvent,
  >(
    decider: WriteModelDecider<S, C, E>,
    commands: readonly { request: Pick<C, 'type' | 'data'>; origin: CommandOrigin }[],
  ): Promise<PromiseSettledResult<CommandResult>[]> {
    const one = (i: number) => {
      const { request, origin } = commands[i]!;
      return handle(decider, request, origin);
    };
    if (commands.length <= 1) return Promise.allSettled(commands.map((_, i) => one(i)));
    return withSpan(
      `command group ${commands[0]!.request.type}`,
      { attributes: { 'deeplens.aggregate': decider.aggregateType, 'deeplens.group_size': commands.length } },
      () => handleGroupInSpan(decider, commands, one),
    );
  }

  async function handleGroupInSpan<
    S extends StateWithVersion,
    C extends Command<string, unknown>,
    E extends DomainEvent,
  >(
    decider: WriteModelDecider<S, C, E>,
    commands: readonly { request: Pick<C, 'type' | 'data'>; origin: CommandOrigin }[],
    one: (i: number) => Promise<CommandResult>,
  ): Promise<PromiseSettledResult<CommandResult>[]> {
    const { rules } = decider;
    const answers: (PromiseSettledResult<CommandResult> | undefined)[] = commands.map(() => undefined);
    /** Commands left to `handle`, one by one, after the group. */
    const alone: number[] = [];
    const hashes = commands.map(
      ({ request, origin }) => origin.idempotency?.fingerprint ?? hashRequest(request),
    );

    const keyed = commands.flatMap(({ origin }, i) =>
      origin.idempotency ? [{ i, ...origin.idempotency }] : [],
    );
    const stored = new Map<string, z.infer<typeof storedKeyRow>>();
    if (keyed.length > 0) {
      const rows = await pool.any(sql.type(storedKeyRow)`
        select scope, key, request_hash, response from write.idempotency_keys
        where (scope, key) in (select * from unnest(
          ${sql.array(
            keyed.map((k) => k.scope),
            'text',
          )}::text[], ${sql.array(
            keyed.map((k) => k.key),
            'text',
          )}::text[]))`);
      for (const row of rows) stored.set(`${row.scope}\u0000${row.key}`, row);
    }
    for (const { i, scope, key } of keyed) {
      const row = stored.get(`${scope}\u0000${key}`);
      if (!row) continue;
      if (row.request_hash === hashes[i])
        answers[i] = { status: 'fulfilled', value: { ...(row.response as CommandResult), replayed: true } };
      else alone.push(i);
    }

    type Decided = {
      i: number;
      aggregateId: string;
      state: S;
      newState: S;
      events: E[];
      command: C;
      result: CommandResult;
      headers: Record<string, string>;
    };
    const decided: Decided[] = [];
    const pending = commands.flatMap((_, i) => (answers[i] || alone.includes(i) ? [] : [i]));
    const prepared = pending.map((i) => {
      const { request, origin } = commands[i]!;
      const { idempotency } = origin;
      const context: CommandContext = {
        now: clock(),
        eventIds: Array.from({ length: maxEventsPerDecision }, (_, n) =>
          idempotency ? deterministicUuid(idempotency.scope, idempotency.key, String(n)) : randomUUID(),
        ),
        correlationId: origin.correlationId ?? randomUUID(),
        causationId: origin.causationId ?? null,
        actor: origin.actor,
      };
      const command = { ...request, metadata: context } as C;
      return { i, command, aggregateId: decider.aggregateIdOf(command) };
    });
    const states = new Map<string, S>();
    if (prepared.length > 0) {
      const rows = await pool.any(sql.type(aggregateStateRow)`
        select aggregate_id, state from write.aggregates
        where aggregate_type = ${decider.aggregateType}
          and aggregate_id = any(${sql.array(
            prepared.map((p) => p.aggregateId),
            'text',
          )})`);
      for (const row of rows) states.set(row.aggregate_id, row.state as S);
    }
    const seen = new Set<string>();
    for (const { i, command, aggregateId } of prepared) {
      const { origin } = commands[i]!;
      if (seen.has(aggregateId) || origin.expectedVersion !== undefined) {
        alone.push(i);
        continue;
      }
      seen.add(aggregateId);
      const state = states.get(aggregateId) ?? decider.initialState();
      let events: E[];
      try {
        events = decider.decide(command, state);
      } catch {
        // Refused: `handle` answers it (or finds the answer of a retry that committed meanwhile).
        alone.push(i);
        continue;
      }
      const newState = events.reduce(decider.evolve, state);
      decided.push({
        i,
        aggregateId,
        state,
        newState,
        events,
        command,
        result: {
          aggregateId,
          version: newState.version,
          eventIds: events.map((e) => e.metadata.eventId),
          eventTypes: events.map((e) => e.type),
          replayed: false,
        },
        headers: origin.headers ?? traceHeaders(),
      });
    }

    if (decided.length > 0) {
      try {
        await pool.transaction(async (tx) => {
          await storeStates(
            tx,
            decider.aggregateType,
            decided.filter((d) => d.events.length > 0),
          );
          const outbox = decided.flatMap((d) =>
            d.events.map((event) => ({
              event,
              headers: d.headers,
              reservations: rules.reservations?.(event) ?? [],
            })),
          );
          for (const { event, reservations } of outbox)
            for (const reservation of reservations)
              await reserve(tx, reservation, event.metadata.aggregateId);
          await appendManyToOutbox(tx, outbox, decider.aggregateType);
          const keys = decided.filter((d) => commands[d.i]!.origin.idempotency);
          if (keys.length > 0) {
            const column = (of: (d: Decided) => string) =>
              sql.array(
                keys.map((d) => of(d)),
                'text',
              );
            await tx.query(sql.typeAlias('void')`
              insert into write.idempotency_keys (scope, key, request_hash, response)
              select * from unnest(
                ${column((d) => commands[d.i]!.origin.idempotency!.scope)}::text[],
                ${column((d) => commands[d.i]!.origin.idempotency!.key)}::text[],
                ${column((d) => hashes[d.i]!)}::text[],
                ${column((d) => JSON.stringify(d.result))}::jsonb[])`);
            for (const d of keys) {
              const { scope, requestAnswer } = commands[d.i]!.origin.idempotency!;
              if (requestAnswer) await storeRequestAnswer(tx, scope, requestAnswer.key, requestAnswer.answer);
            }
          }
          for (const usage of groupUsage(
            decided.flatMap((d) => d.events.map((event) => rules.usage?.(event, d.command))),
          ))
            await changeUsage(tx, usage);
        });
        for (const d of decided) answers[d.i] = { status: 'fulfilled', value: d.result };
        if (decided.some((d) => d.events.length > 0)) {
          outboxSignal.appended();
          if (rules.changesCredentials) credentialChanges.changed();
        }
      } catch (error) {
        // Another command changed one of the aggregates, or stored one of the keys, first:
        // nothing of the group was stored, and `handle` sorts each out.
        if (!(error instanceof ConcurrencyError || error instanceof UniqueIntegrityConstraintViolationError))
          throw error;
        for (const d of decided) alone.push(d.i);
      }
    }

    for (const i of alone.sort((a, b) => a - b)) {
      answers[i] = await one(i).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      );
    }
    return answers.map((answer) => answer!);
  }

  return {
    handle,
    handleGroup,
    load,
    claimRequest,
    answerRequest,
    releaseRequest,
    outboxSignal,
    credentialChanges,
  };
}

/**
 * A group's usage changes, counted once per tenant: the group's total is checked against the
 * limits as one change (so a group past them is refused whole), and each tenant's stripes are
 * taken once, in tenant order, so two groups never wait on each other's stripes in a cycle.
 */
export function groupUsage(changes: readonly (UsageChange | undefined)[]): UsageChange[] {
  const counts = new Map<string, Extract<UsageChange, { kind: 'count' }>>();
  const plans = new Map<string, UsageChange>();
  for (const change of changes) {
    if (!change) continue;
    if (change.kind === 'limitsChanged') {
      plans.set(change.tenantId, change);
      continue;
    }
    const sum = counts.get(change.tenantId);
    const limits = sum?.limits ?? change.limits;
    counts.set(change.tenantId, {
      kind: 'count',
      tenantId: change.tenantId,
      images: (sum?.images ?? 0) + change.images,
      bytes: (sum?.bytes ?? 0) + change.bytes,
      ...(limits ? { limits } : {}),
    });
  }
  const byTenant = (a: UsageChange, b: UsageChange) => a.tenantId.localeCompare(b.tenantId);
  return [...[...plans.values()].sort(byTenant), ...[...counts.values()].sort(byTenant)];
}

const storedKeyRow = z.object({
  scope: z.string(),
  key: z.string(),
  request_hash: z.string(),
  response: z.unknown(),
});
const aggregateStateRow = z.object({ aggregate_id: z.string(), state: z.unknown() });

/**
 * The new states of a group's aggregates, in one insert (new ones) and one update (the others,
 * each at the version it was decided on); a `ConcurrencyError` unless every one was stored.
 */
async function storeStates(
  tx: Queryable,
  aggregateType: string,
  decided: readonly {
    aggregateId: string;
    state: StateWithVersion;
    newState: StateWithVersion;
    events: readonly DomainEvent[];
  }[],
): Promise<void> {
  const inserted = decided.filter((d) => d.state.version === 0);
  const updated = decided.filter((d) => d.state.version !== 0);
  const text = (values: (string | null)[]) => sql.array(values, 'text');
  const int8 = (values: number[]) => sql.array(values, 'int8');
  const jsonb = (values: unknown[]) =>
    sql.array(
      values.map((v) => JSON.stringify(v)),
      'text',
    );
  let stored = 0;
  if (inserted.length > 0) {
    const result = await tx.query(sql.typeAlias('void')`
      insert into write.aggregates (aggregate_type, aggregate_id, tenant_id, version, state)
      select ${aggregateType}, x.id, x.tenant_id, x.version, x.state::jsonb
      from unnest(${text(inserted.map((d) => d.aggregateId))}::text[],
        ${text(inserted.map((d) => d.events[0]!.metadata.tenantId))}::text[],
        ${int8(inserted.map((d) => d.newState.version))}::int8[],
        ${jsonb(inserted.map((d) => d.newState))}::text[]) as x(id, tenant_id, version, state)
      on conflict do nothing`);
    stored += result.rowCount;
  }
  if (updated.length > 0) {
    const result = await tx.query(sql.typeAlias('void')`
      update write.aggregates a
      set version = x.version, state = x.state::jsonb, updated_at = now()
      from unnest(${text(updated.map((d) => d.aggregateId))}::text[],
        ${int8(updated.map((d) => d.state.version))}::int8[],
        ${int8(updated.map((d) => d.newState.version))}::int8[],
        ${jsonb(updated.map((d) => d.newState))}::text[]) as x(id, expected, version, state)
      where a.aggregate_type = ${aggregateType} and a.aggregate_id = x.id and a.version = x.expected`);
    stored += result.rowCount;
  }
  if (stored !== decided.length) {
    throw new ConcurrencyError(
      `${decided.length - stored} ${aggregateType} aggregate(s) were changed by another command`,
    );
  }
}

/** `appendToOutbox` for many events in one statement, in the order given (positions follow it). */
async function appendManyToOutbox(
  tx: Queryable,
  entries: readonly { event: DeepLensEvent; headers: Record<string, string> }[],
  aggregateType: string,
): Promise<void> {
  if (entries.length === 0) return;
  const column = <T>(of: (entry: { event: DeepLensEvent; headers: Record<string, string> }) => T) =>
    entries.map(of);
  const text = (values: (string | null)[]) => sql.array(values, 'text');
  await tx.query(sql.typeAlias('void')`
    insert into write.outbox
      (event_id, event_type, topic, message_key, aggregate_type, aggregate_id, aggregate_version,
       tenant_id, payload, headers)
    select x.event_id::uuid, x.event_type, x.topic, x.aggregate_id, ${aggregateType}, x.aggregate_id,
      x.aggregate_version, x.tenant_id, decode(x.payload, 'base64'), x.headers::jsonb
    from unnest(
      ${text(column((e) => e.event.metadata.eventId))}::text[],
      ${text(column((e) => e.event.type))}::text[],
      ${text(column((e) => topicOf(e.event.type)))}::text[],
      ${text(column((e) => e.event.metadata.aggregateId))}::text[],
      ${sql.array(
        column((e) => e.event.metadata.aggregateVersion),
        'int8',
      )}::int8[],
      ${text(column((e) => e.event.metadata.tenantId))}::text[],
      ${text(column((e) => Buffer.from(encodeEvent(e.event)).toString('base64')))}::text[],
      ${text(column((e) => JSON.stringify(e.headers)))}::text[]
    ) with ordinality as x(event_id, event_type, topic, aggregate_id, aggregate_version, tenant_id, payload, headers, n)
    order by x.n
    on conflict (event_id) do nothing`);
}

export type CommandHandler = ReturnType<typeof createCommandHandler>;

type Queryable = Parameters<Parameters<DatabasePool['transaction']>[0]>[0];

/**
 * Appends one event to the outbox inside the caller's transaction. The event id is unique, so
 * appending an event a second time (a redelivered intake record) is a no-op.
 */
export async function appendToOutbox(
  tx: Queryable,
  event: DeepLensEvent,
  aggregateType: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const { eventId, aggregateId, aggregateVersion, tenantId } = event.metadata;
  await tx.query(sql.typeAlias('void')`
    insert into write.outbox
      (event_id, event_type, topic, message_key, aggregate_type, aggregate_id, aggregate_version,
       tenant_id, payload, headers)
    values (${eventId}, ${event.type}, ${topicOf(event.type)}, ${aggregateId},
      ${aggregateType}, ${aggregateId}, ${aggregateVersion},
      ${tenantId}, ${sql.binary(encodeEvent(event))}, ${sql.jsonb(headers)})
    on conflict (event_id) do nothing`);
}

/** A claimed request's answer, stored once (a claim has none yet), in `q`'s transaction. */
async function storeRequestAnswer(
  q: Queryable | DatabasePool,
  scope: string,
  key: string,
  answer: RequestAnswer,
): Promise<void> {
  await q.query(sql.typeAlias('void')`
    update write.idempotency_keys set response = ${sql.jsonb(answer)}
    where scope = ${scope} and key = ${key} and response is null`);
}

async function reserve(tx: Queryable, reservation: Reservation, aggregateId: string): Promise<void> {
  if (reservation.release) {
    await tx.query(sql.typeAlias('void')`
      delete from write.unique_reservations
      where kind = ${reservation.kind} and value = ${reservation.value} and aggregate_id = ${aggregateId}`);
    return;
  }
  const claimed = await tx.query(sql.typeAlias('void')`
    insert into write.unique_reservations (kind, value, aggregate_id)
    values (${reservation.kind}, ${reservation.value}, ${aggregateId})
    on conflict (kind, value) do update set kind = excluded.kind
      where write.unique_reservations.aggregate_id = excluded.aggregate_id`);
  if (claimed.rowCount !== 1) {
    throw new ConflictError(
      `${reservation.kind.replaceAll('_', ' ')} '${reservation.value}' is already taken`,
      {
        detail: { [reservation.kind]: reservation.value },
      },
    );
  }
}

function hashRequest(request: { type: string; data: unknown }): string {
  return createHash('sha256')
    .update(
      JSON.stringify(request, (_k, v: unknown) =>
        v instanceof Float32Array ? Buffer.from(v.buffer).toString('base64') : v,
      ),
    )
    .digest('hex');
}

/** The commands of one request, and what `handleGroup` answers them. */
type QueuedRequest = {
  commands: readonly { request: Pick<Command<string, unknown>, 'type' | 'data'>; origin: CommandOrigin }[];
  settle: (outcome: PromiseSettledResult<PromiseSettledResult<CommandResult>[]>) => void;
};

/**
 * A commit queue for one decider's requests (issue #18): requests that arrive while a group is
 * being stored join the next group, so concurrent requests share one transaction (one WAL flush,
 * a handful of statements) instead of one each. Each request keeps its own semantics: when the
 * shared group is refused or fails as a whole (one request past its tenant's limits, say), every
 * request of it runs again on its own (`handleGroup` of its commands alone), so a request is
 * accepted or refused by itself, all of its commands or none. Commands that `handleGroup` cannot
 * store as a group it hands to `handle` one by one, as for a single request. Nothing is answered
 * before its transaction commits; every command keeps its own idempotency key.
 */
export function createCommitQueue<
  S extends StateWithVersion,
  C extends Command<string, unknown>,
  E extends DomainEvent,
>(
  handler: Pick<CommandHandler, 'handleGroup'>,
  decider: WriteModelDecider<S, C, E>,
  { maxInFlight = 2, maxCommands = 64 }: { maxInFlight?: number; maxCommands?: number } = {},
) {
  const waiting: QueuedRequest[] = [];
  let inFlight = 0;

  async function store(group: QueuedRequest[]): Promise<void> {
    const commands = group.flatMap((r) => r.commands) as {
      request: Pick<C, 'type' | 'data'>;
      origin: CommandOrigin;
    }[];
    try {
      const results = await handler.handleGroup(decider, commands);
      let at = 0;
      for (const r of group) {
        r.settle({ status: 'fulfilled', value: results.slice(at, at + r.commands.length) });
        at += r.commands.length;
      }
    } catch (error) {
      // A failure (the database gone, a commit never acknowledged) is every request's answer, as
      // it would have been alone: only a refusal is known to have stored nothing.
      if (group.length === 1 || !(error instanceof DeepLensError && error.status < 500)) {
        for (const r of group) r.settle({ status: 'rejected', reason: error });
        return;
      }
      // Refused, nothing of the group stored: each request on its own, so it answers for itself.
      for (const r of group)
        r.settle(
          await handler.handleGroup(decider, r.commands as typeof commands).then(
            (value) => ({ status: 'fulfilled' as const, value }),
            (reason: unknown) => ({ status: 'rejected' as const, reason }),
          ),
        );
    }
  }

  function next(): void {
    while (inFlight < maxInFlight && waiting.length > 0) {
      const group: QueuedRequest[] = [waiting.shift()!];
      let count = group[0]!.commands.length;
      while (waiting.length > 0 && count + waiting[0]!.commands.length <= maxCommands) {
        const joining = waiting.shift()!;
        count += joining.commands.length;
        group.push(joining);
      }
      inFlight += 1;
      void store(group).finally(() => {
        inFlight -= 1;
        next();
      });
    }
  }

  return {
    /** Stores a request's commands with whatever other requests are waiting; answers as `handleGroup`. */
    submit(
      commands: readonly { request: Pick<C, 'type' | 'data'>; origin: CommandOrigin }[],
    ): Promise<PromiseSettledResult<CommandResult>[]> {
      return new Promise((resolve, reject) => {
        waiting.push({
          commands,
          settle: (outcome) =>
            outcome.status === 'fulfilled' ? resolve(outcome.value) : reject(outcome.reason as Error),
        });
        next();
      });
    },
  };
}
