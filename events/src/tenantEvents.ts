import type { Event } from './event.ts';
import type { StorageMoveEvent } from './storageMoveEvents.ts';

export type TenantPlan = 'free' | 'pro' | 'enterprise';

/** What a tenant may store and how fast it may call (`deeplens.tenant.TenantLimits`). */
export type TenantLimits = {
  maxImages: number;
  /** Total stored bytes. */
  maxBytes: number;
  /** Largest single image. */
  maxImageBytes: number;
  requestsPerMinute: number;
};

/** The kinds of storage a tenant may bring (absent in events from before kinds: `s3`). */
export type TenantStorageKind = 's3' | 'azure' | 'path';

/**
 * Bring-your-own storage, one flat record for every kind (the Avro record grew optional fields,
 * so events from before kinds read as S3); `encryptedSecret` is ciphertext, never the secret.
 * - `s3`: `endpoint`, `bucket`, `region`, `prefix`, `accessKeyId`, `encryptedSecret` (the secret key);
 * - `azure`: `endpoint` (the Blob service URL), `bucket` (the container), `prefix`, `accessKeyId`
 *   (the account name), `credential` and `encryptedSecret` (the account key or SAS token), `region` '';
 * - `path`: `path` (a folder under the operator's `TENANT_STORAGE_PATH_ROOT`), `prefix`; the rest ''.
 */
export type TenantStorage = {
  kind?: TenantStorageKind;
  endpoint: string;
  bucket: string;
  region: string;
  prefix: string;
  accessKeyId: string;
  encryptedSecret: string;
  credential?: 'sharedKey' | 'sasToken' | null;
  path?: string | null;
};

/**
 * Where an enterprise tenant's metadata read model lives: a dedicated PostgreSQL database on the
 * configured server of this name (`default`: the read-model database's own server; others:
 * keys of `TENANT_DATABASE_URLS`). Never a URL: credentials stay in configuration. `null` (and
 * absent, in events written before the field existed): a schema of the shared database.
 */
export type TenantDatabaseTarget = string | null;

export type TenantProvisioned = Event<
  'TenantProvisioned',
  {
    tenantId: string;
    slug: string;
    name: string;
    plan: TenantPlan;
    limits: TenantLimits;
    databaseTarget?: TenantDatabaseTarget;
  }
>;

/** `databaseTarget`: the tenant moves to a dedicated database there; null: it stays where it is. */
export type TenantPlanChanged = Event<
  'TenantPlanChanged',
  { tenantId: string; plan: TenantPlan; limits: TenantLimits; databaseTarget?: TenantDatabaseTarget }
>;

export type TenantStorageConfigured = Event<'TenantStorageConfigured', { tenantId: string } & TenantStorage>;

export type TenantSuspended = Event<'TenantSuspended', { tenantId: string; reason: string }>;

export type TenantReactivated = Event<'TenantReactivated', { tenantId: string }>;

/** Erasure: the tenant's images, vectors, objects and keys go too. */
export type TenantDeleted = Event<'TenantDeleted', { tenantId: string; slug: string }>;

export type TenantEvent =
  | TenantProvisioned
  | TenantPlanChanged
  | TenantStorageConfigured
  | TenantSuspended
  | TenantReactivated
  | TenantDeleted
  | StorageMoveEvent;
