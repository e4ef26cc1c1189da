import type { DomainEvent } from '@deeplens/events/domainEvent';
import type { WriteModelDecider, WriteModelRules } from './commandHandler.ts';
import type { Decider } from './decider.ts';
import {
  apiKeyAggregate,
  imageAggregate,
  intakeKeyAggregate,
  tenantAggregate,
  userAggregate,
} from './writeModelRules.ts';

/**
 * An aggregate as the write model keeps it: its decider (state, `evolve`) and the rules the
 * command handler applies beside it (uniqueness reservations, usage). The handler takes the
 * rules from the bound decider (`writeModelRules.ts`); recovery finds the pair per event,
 * through `writeModelAggregateOf`.
 */
export type WriteModelAggregate = {
  decider: Decider<{ version: number }, never, DomainEvent>;
  rules: WriteModelRules<never, DomainEvent>;
};

function aggregate<S extends { version: number }, C, E extends DomainEvent>(
  decider: WriteModelDecider<S, C, E>,
): WriteModelAggregate {
  return { decider, rules: decider.rules } as unknown as WriteModelAggregate;
}

const tenant = aggregate(tenantAggregate);
const user = aggregate(userAggregate);
const apiKey = aggregate(apiKeyAggregate);
const intakeKey = aggregate(intakeKeyAggregate);
const image = aggregate(imageAggregate);

/**
 * Which aggregate folds each domain event. A new event must be listed here: a unit test
 * (`writeModelAggregates.unit.test.ts`) fails for any domain event type without an aggregate,
 * and recovery stops at such an event rather than skip it.
 */
const aggregateByEventType: { readonly [T in DomainEvent['type']]?: WriteModelAggregate } = {
  TenantProvisioned: tenant,
  TenantPlanChanged: tenant,
  TenantStorageConfigured: tenant,
  TenantSuspended: tenant,
  TenantReactivated: tenant,
  TenantDeleted: tenant,
  StorageMoveStarted: tenant,
  StorageMoveProgressed: tenant,
  StorageMoveVerified: tenant,
  StorageMoveCompleted: tenant,
  StorageMoveFailed: tenant,
  UserRegistered: user,
  UserRoleChanged: user,
  UserDisabled: user,
  UserErased: user,
  ApiKeyIssued: apiKey,
  ApiKeyRevoked: apiKey,
  IntakeKeyRegistered: intakeKey,
  IntakeKeyRevoked: intakeKey,
  ImageUploaded: image,
  ImageEmbedded: image,
  ImageEmbeddingFailed: image,
  ThumbnailGenerated: image,
  ImageMetadataUpdated: image,
  ImageDeleted: image,
};

/** The aggregate an event belongs to, or undefined for an event no aggregate emits (e.g. `IntakeRejected`). */
export function writeModelAggregateOf(eventType: string): WriteModelAggregate | undefined {
  return Object.hasOwn(aggregateByEventType, eventType)
    ? aggregateByEventType[eventType as DomainEvent['type']]
    : undefined;
}

/** Every event type an aggregate folds (for the test that none is forgotten). */
export function foldedEventTypes(): string[] {
  return Object.keys(aggregateByEventType);
}
