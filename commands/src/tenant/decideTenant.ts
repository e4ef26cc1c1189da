import { assertNever } from '@deeplens/events/assertNever';
import type { TenantEvent, TenantLimits, TenantPlan, TenantStorage } from '@deeplens/events/tenantEvents';
import { ConflictError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import type { CommandContext } from '../commandContext.ts';
import { emitEvents, type EventDraft } from '../emitEvents.ts';
import { limitsOf } from './plans.ts';
import { assertNoStorageMoveRunning, decideStorageMove } from './storageMove.ts';
import type { TenantCommand } from './tenantCommands.ts';
import { normalizedStorage, type ProvisionedTenant, type TenantState } from './tenantState.ts';

/**
 * The tenant's rules. A deleted tenant answers every command but ProvisionTenant with
 * NotFoundError, as if it never existed; provisioning an id that exists (even deleted) is a
 * ConflictError. Slug uniqueness across tenants and idempotency keys are not the decider's:
 * the write model enforces them in the same transaction that appends the events.
 */
export function decideTenant(command: TenantCommand, state: TenantState): TenantEvent[] {
  const { data } = command;
  if (command.type === 'ProvisionTenant') {
    if (state.status !== 'initial') throw new ConflictError(`Tenant ${data.tenantId} already exists`);
    const { tenantId, slug, name, plan, limits = limitsOf(plan), storage, databaseTarget } = command.data;
    if (slug.trim() === '' || name.trim() === '') {
      throw new ValidationError('A tenant needs a slug and a name');
    }
    assertValidLimits(limits);
    if (databaseTarget !== undefined) assertDedicatedDatabase(plan, databaseTarget);
    const drafts: Array<EventDraft<TenantEvent>> = [
      {
        type: 'TenantProvisioned',
        data: { tenantId, slug, name, plan, limits, databaseTarget: databaseTarget ?? null },
      },
    ];
    if (storage) {
      assertValidStorage(storage);
      drafts.push({ type: 'TenantStorageConfigured', data: { tenantId, ...normalizedStorage(storage) } });
    }
    return emit(command.metadata, { tenantId, version: state.version }, drafts);
  }

  const tenant = existingTenant(state, data.tenantId);
  const { metadata: context } = command;
  switch (command.type) {
    case 'ChangeTenantPlan': {
      const { tenantId, plan, limits = limitsOf(plan), databaseTarget } = command.data;
      assertValidLimits(limits);
      const current = tenant.databaseTarget ?? null;
      if (current !== null && plan !== 'enterprise') {
        throw new ConflictError('A tenant on a dedicated database stays on the enterprise plan', {
          detail: { tenantId, databaseTarget: current },
        });
      }
      if (databaseTarget !== undefined) assertDedicatedDatabase(plan, databaseTarget);
      if (databaseTarget !== undefined && current !== null && databaseTarget !== current) {
        throw new ConflictError('Moving a dedicated database to another server is not supported', {
          detail: { tenantId, databaseTarget: current },
        });
      }
      const move = databaseTarget !== undefined && current === null ? databaseTarget : null;
      if (plan === tenant.plan && sameLimits(limits, tenant.limits) && move === null) return [];
      return emit(context, tenant, [
        {
          type: 'TenantPlanChanged',
          data: { tenantId, plan, limits, databaseTarget: move },
        },
      ]);
    }
    case 'ConfigureTenantStorage': {
      const { tenantId, ...given } = command.data;
      assertValidStorage(given);
      assertNoStorageMoveRunning(tenant);
      const storage = normalizedStorage(given);
      if (tenant.storage && sameStorage(storage, normalizedStorage(tenant.storage))) return [];
      return emit(context, tenant, [{ type: 'TenantStorageConfigured', data: { tenantId, ...storage } }]);
    }
    case 'SuspendTenant':
      if (tenant.status === 'suspended') return [];
      if (command.data.reason.trim() === '') throw new ValidationError('Suspending a tenant needs a reason');
      return emit(context, tenant, [
        { type: 'TenantSuspended', data: { tenantId: tenant.tenantId, reason: command.data.reason } },
      ]);
    case 'ReactivateTenant':
      if (tenant.status === 'active') return [];
      return emit(context, tenant, [{ type: 'TenantReactivated', data: { tenantId: tenant.tenantId } }]);
    case 'DeleteTenant':
      return emit(context, tenant, [
        { type: 'TenantDeleted', data: { tenantId: tenant.tenantId, slug: tenant.slug } },
      ]);
    case 'StartStorageMove':
    case 'RecordStorageMoveProgress':
    case 'VerifyStorageMove':
    case 'CompleteStorageMove':
    case 'FailStorageMove':
      return emit(context, tenant, decideStorageMove(command, tenant));
    default:
      return assertNever(command, 'tenant command');
  }
}

function existingTenant(state: TenantState, tenantId: string): ProvisionedTenant {
  if (state.status === 'initial' || state.status === 'deleted') {
    throw new NotFoundError(`Tenant ${tenantId} not found`, { detail: { tenantId } });
  }
  return state;
}

function emit(
  context: CommandContext,
  { tenantId, version }: { tenantId: string; version: number },
  drafts: Array<EventDraft<TenantEvent>>,
): TenantEvent[] {
  return emitEvents<TenantEvent>(context, { aggregateId: tenantId, tenantId, version }, drafts);
}

function assertValidLimits(limits: TenantLimits): void {
  const invalid = Object.entries(limits).filter(([, value]) => !Number.isSafeInteger(value) || value <= 0);
  if (invalid.length > 0) {
    throw new ValidationError(
      `Limits must be positive integers: ${invalid.map(([name]) => name).join(', ')}`,
      {
        detail: { limits },
      },
    );
  }
  if (limits.maxImageBytes > limits.maxBytes) {
    throw new ValidationError('maxImageBytes cannot exceed maxBytes', { detail: { limits } });
  }
}

/** A dedicated database is an enterprise option, on a server named by configuration. */
function assertDedicatedDatabase(plan: TenantPlan, databaseTarget: string): void {
  if (plan !== 'enterprise') {
    throw new ValidationError('A dedicated database is an option of the enterprise plan', {
      detail: { plan },
    });
  }
  if (!/^[a-z][a-z0-9_-]{0,62}$/.test(databaseTarget)) {
    throw new ValidationError(`Not a database server name: ${databaseTarget}`);
  }
}

/**
 * Each kind's rules of shape: S3 and Azure name a URL, a bucket or container, an account and a
 * sealed secret (Azure also whether it is the key or a SAS token); a path is relative, without
 * `..`, and carries no secret. Whether the path is inside the operator's root is the handler's.
 */
export function assertValidStorage(storage: TenantStorage): void {
  const kind = storage.kind ?? 's3';
  if (kind === 'path') {
    const path = storage.path ?? '';
    if (path === '' || path.startsWith('/') || path.split('/').some((part) => part === '..'))
      throw new ValidationError('A storage path is relative to the storage root, without ".."');
    if (storage.encryptedSecret !== '' || storage.accessKeyId !== '' || storage.endpoint !== '')
      throw new ValidationError('A path storage carries no endpoint or credentials');
    return;
  }
  if (kind !== 's3' && kind !== 'azure') throw new ValidationError(`Unknown storage kind: ${String(kind)}`);
  if (!URL.canParse(storage.endpoint))
    throw new ValidationError(`Storage endpoint is not a URL: ${storage.endpoint}`);
  const needed =
    kind === 's3'
      ? (['bucket', 'region', 'accessKeyId', 'encryptedSecret'] as const)
      : (['bucket', 'accessKeyId', 'encryptedSecret'] as const);
  const empty = needed.filter((k) => storage[k] === '');
  if (empty.length > 0) throw new ValidationError(`Storage needs ${empty.join(', ')}`);
  if (kind === 'azure' && storage.credential !== 'sharedKey' && storage.credential !== 'sasToken')
    throw new ValidationError('Azure storage needs a credential: sharedKey or sasToken');
  if (kind === 's3' && (storage.credential ?? null) !== null)
    throw new ValidationError('S3 storage takes an access key, not an Azure credential');
}

function sameLimits(a: TenantLimits, b: TenantLimits): boolean {
  return (
    a.maxImages === b.maxImages &&
    a.maxBytes === b.maxBytes &&
    a.maxImageBytes === b.maxImageBytes &&
    a.requestsPerMinute === b.requestsPerMinute
  );
}

function sameStorage(a: TenantStorage, b: TenantStorage): boolean {
  return (
    a.endpoint === b.endpoint &&
    a.bucket === b.bucket &&
    a.region === b.region &&
    a.prefix === b.prefix &&
    a.accessKeyId === b.accessKeyId &&
    a.encryptedSecret === b.encryptedSecret &&
    a.kind === b.kind &&
    a.credential === b.credential &&
    a.path === b.path
  );
}
