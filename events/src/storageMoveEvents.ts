import type { Event } from './event.ts';

/**
 * A move of a tenant's objects to another storage (docs/storage-moves.md). `from` and `to` are
 * descriptions without credentials; the target's sealed settings travel in the
 * `TenantStorageConfigured` of the same decision (none when `toPlatform`).
 */
export type StorageMoveStarted = Event<
  'StorageMoveStarted',
  { tenantId: string; moveId: string; toPlatform: boolean; from: string; to: string }
>;

/** A batch copied and verified: `cursor` is the last image id done, the figures are totals. */
export type StorageMoveProgressed = Event<
  'StorageMoveProgressed',
  { tenantId: string; moveId: string; cursor: string; objects: number; bytes: number }
>;

/** Every object of the tenant is in the target, its sha256 checked. */
export type StorageMoveVerified = Event<
  'StorageMoveVerified',
  { tenantId: string; moveId: string; objects: number; bytes: number }
>;

/** The old storage is released; reads go to the target only. */
export type StorageMoveCompleted = Event<'StorageMoveCompleted', { tenantId: string; moveId: string }>;

/** The move stopped; reads keep falling back to the old storage, which is not released. */
export type StorageMoveFailed = Event<
  'StorageMoveFailed',
  { tenantId: string; moveId: string; reason: string }
>;

export type StorageMoveEvent =
  StorageMoveStarted | StorageMoveProgressed | StorageMoveVerified | StorageMoveCompleted | StorageMoveFailed;
