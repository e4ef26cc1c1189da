import { assertNever } from '@deeplens/events/assertNever';
import type { StorageMoveEvent } from '@deeplens/events/storageMoveEvents';
import type { TenantEvent } from '@deeplens/events/tenantEvents';
import { ConflictError, ValidationError } from '@deeplens/platform/errors';
import type { Command } from '../command.ts';
import type { EventDraft } from '../emitEvents.ts';
import { assertValidStorage } from './decideTenant.ts';
import type { ProvisionedTenant } from './tenantState.ts';

/** Where a tenant's objects are: its own storage (sealed settings), or DeepLens's (`null`). */
export type StorageSettings = ProvisionedTenant['storage'];

export type StorageMoveStatus = 'copying' | 'verified' | 'completed' | 'failed';

/** The tenant's last storage move (docs/storage-moves.md). */
export type StorageMove = {
  moveId: string;
  status: StorageMoveStatus;
  /** The source; reads fall back to it until the move completes (then dropped). */
  from: StorageSettings;
  fromDescription: string;
  toDescription: string;
  /** The last image id copied and verified (image id order); '' before the first batch. */
  cursor: string;
  objects: number;
  bytes: number;
  startedAt: number;
  finishedAt: number | null;
  reason: string | null;
};

/** The handler seals the target's credentials before the command is built, as for ConfigureTenantStorage. */
export type StartStorageMove = Command<
  'StartStorageMove',
  { tenantId: string; moveId: string; target: NonNullable<StorageSettings> | null }
>;
export type RecordStorageMoveProgress = Command<
  'RecordStorageMoveProgress',
  { tenantId: string; moveId: string; cursor: string; objects: number; bytes: number }
>;
export type VerifyStorageMove = Command<
  'VerifyStorageMove',
  { tenantId: string; moveId: string; objects: number; bytes: number }
>;
export type CompleteStorageMove = Command<'CompleteStorageMove', { tenantId: string; moveId: string }>;
export type FailStorageMove = Command<
  'FailStorageMove',
  { tenantId: string; moveId: string; reason: string }
>;

export type StorageMoveCommand =
  StartStorageMove | RecordStorageMoveProgress | VerifyStorageMove | CompleteStorageMove | FailStorageMove;

const credentialField = /secret|sealed|encrypted|token|sharedkey|password|credential/i;

/** A storage as the log and the API may show it: its settings without any credential. */
export function describeStorage(storage: StorageSettings): string {
  if (!storage) return 'platform';
  const fields = Object.entries({ ...storage, kind: storage.kind ?? 's3' } as Record<string, unknown>)
    .filter(
      ([name, value]) => !credentialField.test(name) && value !== undefined && value !== null && value !== '',
    )
    .map(([name, value]) => `${name}=${String(value)}`);
  return fields.sort().join(' ');
}

/**
 * Where a storage keeps objects, whatever credentials reach it: two settings of one place
 * (a key rotated, the secret sealed again, an S3 setting from before kinds) are one place. A
 * move onto the place it copies from would release what it just copied.
 */
export function storagePlace(storage: StorageSettings): string {
  if (!storage) return 'platform';
  const prefix = storage.prefix.replace(/\/+$/, '');
  return JSON.stringify([storage.kind ?? 's3', storage.endpoint, storage.bucket, prefix, storage.path ?? '']);
}

/** Whether a move runs: writes already go to the target, reads fall back to the source. */
export function isStorageMoveRunning(move: StorageMove | null | undefined): boolean {
  return move?.status === 'copying' || move?.status === 'verified';
}

/** Changing a tenant's storage outright while a move runs would strand what is being copied. */
export function assertNoStorageMoveRunning(tenant: ProvisionedTenant): void {
  if (isStorageMoveRunning(tenant.storageMove)) {
    throw new ConflictError('a storage move is running for this tenant; wait for it to complete', {
      detail: { moveId: tenant.storageMove!.moveId, status: tenant.storageMove!.status },
    });
  }
}

/**
 * The move's rules. One move at a time; the target must differ from where the objects are
 * (compared without credentials, so re-sealed settings of the same place are the same place).
 * After a failed move only that move's target may be started again (it copies from the failed
 * move's source, which was never released). Progress only moves forward: a batch recorded
 * already (a copier that crashed after recording it, or a second copier) emits nothing.
 */
export function decideStorageMove(
  command: StorageMoveCommand,
  tenant: ProvisionedTenant,
): Array<EventDraft<TenantEvent>> {
  const move = tenant.storageMove ?? null;
  const { tenantId } = tenant;
  switch (command.type) {
    case 'StartStorageMove': {
      const { moveId, target } = command.data;
      if (isStorageMoveRunning(move)) {
        throw new ConflictError('a storage move is already running for this tenant', {
          detail: { moveId: move!.moveId, status: move!.status },
        });
      }
      if (tenant.status === 'deleted') throw new ConflictError('the tenant is deleted');
      if (target) assertValidStorage(target);
      const to = describeStorage(target);
      const current = describeStorage(tenant.storage);
      const samePlace = storagePlace(target) === storagePlace(tenant.storage);
      const restart = move?.status === 'failed';
      if (restart && !samePlace) {
        throw new ConflictError(
          `the last storage move failed (${move.reason ?? 'no reason'}); only its target (${current}) may be started again`,
          { detail: { moveId: move.moveId } },
        );
      }
      if (!restart && samePlace) throw new ConflictError("the tenant's objects are already in that storage");
      const from = restart ? move.fromDescription : current;
      const drafts: Array<EventDraft<TenantEvent>> = [
        { type: 'StorageMoveStarted', data: { tenantId, moveId, toPlatform: target === null, from, to } },
      ];
      if (target && !restart) drafts.push({ type: 'TenantStorageConfigured', data: { tenantId, ...target } });
      return drafts;
    }
    case 'RecordStorageMoveProgress': {
      const running = runningMove(move, command.data.moveId, 'copying');
      const { moveId, cursor, objects, bytes } = command.data;
      assertFigures(objects, bytes);
      if (cursor <= running.cursor) return [];
      if (objects < running.objects || bytes < running.bytes)
        throw new ValidationError('progress totals never go down', { detail: { moveId } });
      return [{ type: 'StorageMoveProgressed', data: { tenantId, moveId, cursor, objects, bytes } }];
    }
    case 'VerifyStorageMove': {
      if (move?.moveId === command.data.moveId && move.status !== 'copying' && move.status !== 'failed')
        return [];
      runningMove(move, command.data.moveId, 'copying');
      const { moveId, objects, bytes } = command.data;
      assertFigures(objects, bytes);
      return [{ type: 'StorageMoveVerified', data: { tenantId, moveId, objects, bytes } }];
    }
    case 'CompleteStorageMove': {
      if (move?.moveId === command.data.moveId && move.status === 'completed') return [];
      runningMove(move, command.data.moveId, 'verified');
      return [{ type: 'StorageMoveCompleted', data: { tenantId, moveId: command.data.moveId } }];
    }
    case 'FailStorageMove': {
      if (move?.moveId === command.data.moveId && move.status === 'failed') return [];
      runningMove(move, command.data.moveId, 'copying');
      const reason = command.data.reason.trim().slice(0, 1000) || 'unknown';
      return [{ type: 'StorageMoveFailed', data: { tenantId, moveId: command.data.moveId, reason } }];
    }
    default:
      return assertNever(command, 'storage move command');
  }
}

function runningMove(move: StorageMove | null, moveId: string, status: StorageMoveStatus): StorageMove {
  if (!move || move.moveId !== moveId)
    throw new ConflictError(`storage move ${moveId} is not the tenant's current move`, {
      detail: { moveId },
    });
  if (move.status !== status)
    throw new ConflictError(`storage move ${moveId} is ${move.status}, not ${status}`, {
      detail: { moveId, status: move.status },
    });
  return move;
}

function assertFigures(objects: number, bytes: number): void {
  if (!Number.isSafeInteger(objects) || objects < 0 || !Number.isSafeInteger(bytes) || bytes < 0)
    throw new ValidationError('object and byte counts are non-negative integers');
}

/** The tenant after one of its move's events (`version` already set by the caller). */
export function evolveStorageMove(state: ProvisionedTenant, event: StorageMoveEvent): ProvisionedTenant {
  const move = state.storageMove ?? null;
  const at = event.metadata.occurredAt;
  switch (event.type) {
    case 'StorageMoveStarted': {
      const { moveId, toPlatform, from, to } = event.data;
      // A restarted failed move copies from that move's source, which was never released.
      const source = move?.status === 'failed' ? move.from : state.storage;
      return {
        ...state,
        storage: toPlatform ? null : state.storage,
        storageMove: {
          moveId,
          status: 'copying',
          from: source,
          fromDescription: from,
          toDescription: to,
          cursor: '',
          objects: 0,
          bytes: 0,
          startedAt: at,
          finishedAt: null,
          reason: null,
        },
      };
    }
    case 'StorageMoveProgressed': {
      if (!move) return state;
      const { cursor, objects, bytes } = event.data;
      return { ...state, storageMove: { ...move, cursor, objects, bytes } };
    }
    case 'StorageMoveVerified': {
      if (!move) return state;
      const { objects, bytes } = event.data;
      return { ...state, storageMove: { ...move, status: 'verified', objects, bytes } };
    }
    case 'StorageMoveCompleted':
      if (!move) return state;
      return { ...state, storageMove: { ...move, status: 'completed', from: null, finishedAt: at } };
    case 'StorageMoveFailed':
      if (!move) return state;
      return {
        ...state,
        storageMove: { ...move, status: 'failed', finishedAt: at, reason: event.data.reason },
      };
    default:
      return assertNever(event, 'storage move event');
  }
}
