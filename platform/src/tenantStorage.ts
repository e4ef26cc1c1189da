import { azureObjectStore } from './azureObjectStore.ts';
import type { Config } from './config.ts';
import { ObjectStorageError, s3ObjectStore, type ObjectStore } from './objectStore.ts';
import { pathObjectStore } from './pathObjectStore.ts';
import type { SecretBox } from './secrets.ts';
import { withStorageMoves, type StorageMoveOfTenant } from './storageMoveStorage.ts';

/** What storage resolution needs to know of a tenant (its write-model state has this shape). */
export type TenantWithStorage = {
  tenantId: string;
  version: number;
  /** The tenant's own storage (see `TenantStorage` in events/tenantEvents.ts for each kind's fields). */
  storage: {
    /** Absent: S3 (recorded before kinds). */
    kind?: 's3' | 'azure' | 'path';
    endpoint: string;
    bucket: string;
    region: string;
    prefix: string;
    accessKeyId: string;
    encryptedSecret: string;
    /** Azure: what `encryptedSecret` holds. */
    credential?: 'sharedKey' | 'sasToken' | null;
    /** Path: the folder under `TENANT_STORAGE_PATH_ROOT`. */
    path?: string | null;
  } | null;
  /** The tenant's last storage move: reads fall back to its source until it completes. */
  storageMove?: StorageMoveOfTenant | null;
};

/**
 * Whether a tenant's own storage may point at `endpoint`: its origin (scheme, host, port) is one
 * of the configured ones (TENANT_STORAGE_ALLOWED_ENDPOINTS). None is allowed when none is
 * configured, so an installation never calls an internal address because an admin typed it.
 */
export function isAllowedStorageEndpoint(endpoint: string, allowed: readonly string[]): boolean {
  const origin = originOf(endpoint);
  return origin !== undefined && allowed.some((entry) => originOf(entry) === origin);
}

function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return /^https?:$/.test(parsed.protocol) ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The bucket that holds one tenant's objects in DeepLens's own storage. */
export function tenantBucket(config: Pick<Config, 'S3_BUCKET_PREFIX'>, tenantId: string): string {
  return `${config.S3_BUCKET_PREFIX}${tenantId}`;
}

/** Objects are content addressed: the same bytes stored twice by one tenant are one object. */
export function imageObjectKey(sha256: string, prefix = ''): string {
  const base = `images/${sha256.slice(0, 2)}/${sha256}`;
  return prefix ? `${prefix.replace(/\/+$/, '')}/${base}` : base;
}

export type TenantStorage = {
  store: ObjectStore;
  bucket: string;
  keyOf: (sha256: string) => string;
  thumbnailKeyOf: (sha256: string, size: number) => string;
};

/**
 * Where a tenant's objects go: its own S3 bucket and prefix when it brought one (credentials
 * unsealed only here, in memory), else its bucket in DeepLens's storage.
 */
/** Thumbnails sit next to their image, content addressed by the image's sha256 and size. */
export function thumbnailObjectKey(sha256: string, size: number, prefix = ''): string {
  const base = `thumbnails/${sha256.slice(0, 2)}/${sha256}-${size}.webp`;
  return prefix ? `${prefix.replace(/\/+$/, '')}/${base}` : base;
}

export function createTenantStorageResolver(
  config: Config,
  defaultStore: ObjectStore,
  secrets: SecretBox,
): (tenant: TenantWithStorage) => TenantStorage {
  return withStorageMoves(
    ownStorageResolver(config, defaultStore, secrets),
    ownStorageResolver(config, defaultStore, secrets),
  );
}

function ownStorageResolver(config: Config, defaultStore: ObjectStore, secrets: SecretBox) {
  const byoStores = new Map<string, { version: number; storage: TenantStorage }>();
  return (tenant: TenantWithStorage): TenantStorage => {
    if (!tenant.storage) {
      return {
        store: defaultStore,
        bucket: tenantBucket(config, tenant.tenantId),
        keyOf: (sha) => imageObjectKey(sha),
        thumbnailKeyOf: (sha, size) => thumbnailObjectKey(sha, size),
      };
    }
    const cached = byoStores.get(tenant.tenantId);
    if (cached && cached.version === tenant.version) return cached.storage;
    const { prefix } = tenant.storage;
    const storage: TenantStorage = {
      ...ownStore(config, secrets, tenant.tenantId, tenant.storage),
      keyOf: (sha) => imageObjectKey(sha, prefix),
      thumbnailKeyOf: (sha, size) => thumbnailObjectKey(sha, size, prefix),
    };
    byoStores.set(tenant.tenantId, { version: tenant.version, storage });
    return storage;
  };
}

/**
 * The store and bucket of a tenant's own storage, by kind: S3 and Azure only at an allowed
 * endpoint, with the secret unsealed here, in memory; a path only under the operator's root.
 */
export function ownStore(
  config: Pick<Config, 'TENANT_STORAGE_ALLOWED_ENDPOINTS' | 'TENANT_STORAGE_PATH_ROOT' | 'S3_BUCKET_PREFIX'>,
  secrets: SecretBox,
  tenantId: string,
  storage: NonNullable<TenantWithStorage['storage']>,
): { store: ObjectStore; bucket: string } {
  const kind = storage.kind ?? 's3';
  if (kind === 'path') {
    // Configured before the root was taken away: not reachable, and not a 5xx of ours.
    if (!config.TENANT_STORAGE_PATH_ROOT || !storage.path)
      throw new ObjectStorageError('path storage is not enabled by this installation');
    return {
      store: pathObjectStore({ root: config.TENANT_STORAGE_PATH_ROOT, path: storage.path }),
      bucket: tenantBucket(config, tenantId),
    };
  }
  const { endpoint, region, accessKeyId, encryptedSecret, bucket } = storage;
  // Set before the allow-list existed, or since taken off it: not called.
  if (!isAllowedStorageEndpoint(endpoint, config.TENANT_STORAGE_ALLOWED_ENDPOINTS)) {
    throw new ObjectStorageError("the tenant's storage endpoint is not allowed by this installation");
  }
  if (kind === 'azure') {
    const secret = secrets.open(encryptedSecret);
    return {
      store: azureObjectStore({
        endpoint,
        account: accessKeyId,
        credential:
          storage.credential === 'sasToken'
            ? { kind: 'sasToken', token: secret }
            : { kind: 'sharedKey', accountKey: secret },
      }),
      bucket,
    };
  }
  return {
    store: s3ObjectStore({
      endpoint,
      region,
      accessKey: accessKeyId,
      secretKey: secrets.open(encryptedSecret),
    }),
    bucket,
  };
}
