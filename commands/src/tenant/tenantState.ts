import { assertNever } from '@deeplens/events/assertNever';
import type { TenantEvent, TenantLimits, TenantPlan, TenantStorage } from '@deeplens/events/tenantEvents';
import { evolveStorageMove, type StorageMove } from './storageMove.ts';

export type TenantStatus = 'active' | 'suspended' | 'deleted';

export type ProvisionedTenant = {
  status: TenantStatus;
  version: number;
  tenantId: string;
  slug: string;
  name: string;
  plan: TenantPlan;
  limits: TenantLimits;
  storage: TenantStorage | null;
  suspendedReason: string | null;
  /** The configured server of the tenant's dedicated metadata database; null or absent: shared. */
  databaseTarget?: string | null;
  /** The last storage move, if any (docs/storage-moves.md). */
  storageMove?: StorageMove | null;
};

export type TenantState = { status: 'initial'; version: number } | ProvisionedTenant;

export function initialTenantState(): TenantState {
  return { status: 'initial', version: 0 };
}

/** A storage with its kind spelled out (events and states from before kinds are S3). */
export function normalizedStorage(storage: TenantStorage): TenantStorage {
  const { endpoint, bucket, region, prefix, accessKeyId, encryptedSecret } = storage;
  return {
    kind: storage.kind ?? 's3',
    endpoint,
    bucket,
    region,
    prefix,
    accessKeyId,
    encryptedSecret,
    credential: storage.credential ?? null,
    path: storage.path ?? null,
  };
}

export function evolveTenant(state: TenantState, event: TenantEvent): TenantState {
  const version = event.metadata.aggregateVersion;
  if (event.type === 'TenantProvisioned') {
    const { tenantId, slug, name, plan, limits, databaseTarget = null } = event.data;
    return {
      status: 'active',
      version,
      tenantId,
      slug,
      name,
      plan,
      limits,
      storage: null,
      suspendedReason: null,
      databaseTarget,
    };
  }
  if (state.status === 'initial') return { ...state, version };
  switch (event.type) {
    case 'TenantPlanChanged':
      return {
        ...state,
        version,
        plan: event.data.plan,
        limits: event.data.limits,
        databaseTarget: event.data.databaseTarget ?? state.databaseTarget ?? null,
      };
    case 'TenantStorageConfigured': {
      const { tenantId: _tenantId, ...configured } = event.data;
      return {
        ...state,
        version,
        // As recorded: an event from before kinds has none, and reads as S3.
        storage: configured,
      };
    }
    case 'TenantSuspended':
      return { ...state, version, status: 'suspended', suspendedReason: event.data.reason };
    case 'TenantReactivated':
      return { ...state, version, status: 'active', suspendedReason: null };
    case 'TenantDeleted':
      return { ...state, version, status: 'deleted' };
    case 'StorageMoveStarted':
    case 'StorageMoveProgressed':
    case 'StorageMoveVerified':
    case 'StorageMoveCompleted':
    case 'StorageMoveFailed':
      return evolveStorageMove({ ...state, version }, event);
    default:
      return assertNever(event, 'tenant event');
  }
}
