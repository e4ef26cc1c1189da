import type { EmbeddingSpaceEvent } from './embeddingSpaceEvents.ts';
import type { IdentityEvent, IntakeKeyEvent } from './identityEvents.ts';
import type { ImageEvent } from './imageEvents.ts';
import type { IntakeEvent } from './intakeRecords.ts';
import type { TenantEvent } from './tenantEvents.ts';

/** Every event an aggregate's decider can emit. */
export type DomainEvent = TenantEvent | IdentityEvent | IntakeKeyEvent | ImageEvent;

/** Every event DeepLens publishes: the domain events, the intake's rejections, the installation's facts. */
export type DeepLensEvent = DomainEvent | IntakeEvent | EmbeddingSpaceEvent;
export type DeepLensEventType = DeepLensEvent['type'];
export type EventOfType<T extends DeepLensEventType> = Extract<DeepLensEvent, { type: T }>;

// A mapped type, so adding an event to a union without listing it here does not compile.
const eventTypeSet: { readonly [T in DeepLensEventType]: true } = {
  TenantProvisioned: true,
  TenantPlanChanged: true,
  TenantStorageConfigured: true,
  TenantSuspended: true,
  TenantReactivated: true,
  TenantDeleted: true,
  StorageMoveStarted: true,
  StorageMoveProgressed: true,
  StorageMoveVerified: true,
  StorageMoveCompleted: true,
  StorageMoveFailed: true,
  UserRegistered: true,
  UserRoleChanged: true,
  UserDisabled: true,
  UserErased: true,
  ApiKeyIssued: true,
  ApiKeyRevoked: true,
  IntakeKeyRegistered: true,
  IntakeKeyRevoked: true,
  ImageUploaded: true,
  ImageEmbedded: true,
  ImageEmbeddingFailed: true,
  ThumbnailGenerated: true,
  ImageMetadataUpdated: true,
  ImageDeleted: true,
  IntakeRejected: true,
  EmbeddingSpaceRetired: true,
};

export const deepLensEventTypes = Object.keys(eventTypeSet) as readonly DeepLensEventType[];

export function isDeepLensEventType(value: string): value is DeepLensEventType {
  return Object.hasOwn(eventTypeSet, value);
}
