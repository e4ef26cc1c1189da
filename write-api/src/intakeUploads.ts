import * as Minio from 'minio';
import {
  deleteUnregisteredUpload,
  expiredUnregisteredUploads,
  markUploadRegistered,
  recordUpload,
  uploadStanding,
} from '@deeplens/commands/intake/intakeUploadQueries';
import { largestImageBytes } from '@deeplens/commands/image/imageDecider';
import type { ProvisionedTenant } from '@deeplens/commands/tenant/tenantState';
import { releaseImageBytes } from './imageBytesRelease.ts';
import type { RegisterImageRecord } from '@deeplens/events/intakeRecords';
import type { DatabasePool } from '@deeplens/platform/database';
import { ValidationError } from '@deeplens/platform/errors';
import { inspectImage, type InspectedImage } from '@deeplens/platform/images/inspectImage';
import type { Logger } from '@deeplens/platform/logger';
import { sha256Hex } from '@deeplens/platform/objectStore';
import type { Config } from '@deeplens/platform/config';
import type { SecretBox } from '@deeplens/platform/secrets';
import type { TenantStorage } from '@deeplens/platform/tenantStorage';

/** How long bytes put with `POST /v1/uploads` wait for an intake record that registers them. */
export const uploadLifetimeMs = 24 * 60 * 60 * 1000;

/** How long a presigned PUT URL stays valid. */
export const presignedUrlSeconds = 15 * 60;

export type PresignTarget = {
  presignPut: (bucket: string, key: string, expirySeconds: number) => Promise<string>;
};

/**
 * Presigning for the tenant's S3 storage: its own bucket when it brought one, else DeepLens's
 * store when that is S3; none on the filesystem store.
 */
export function s3PresignTargets(
  config: Pick<Config, 'OBJECT_STORE' | 'S3_ENDPOINT' | 'S3_REGION' | 'S3_ACCESS_KEY' | 'S3_SECRET_KEY'>,
  secrets: SecretBox,
): (tenant: ProvisionedTenant) => PresignTarget | undefined {
  const client = (settings: { endpoint: string; region: string; accessKey: string; secretKey: string }) => {
    const url = new URL(settings.endpoint);
    const minio = new Minio.Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
      useSSL: url.protocol === 'https:',
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      region: settings.region,
      pathStyle: true,
    });
    return {
      presignPut: (bucket: string, key: string, expirySeconds: number) =>
        minio.presignedPutObject(bucket, key, expirySeconds),
    };
  };
  const own =
    config.OBJECT_STORE === 's3'
      ? client({
          endpoint: config.S3_ENDPOINT,
          region: config.S3_REGION,
          accessKey: config.S3_ACCESS_KEY,
          secretKey: config.S3_SECRET_KEY,
        })
      : undefined;
  return (tenant) => {
    if (!tenant.storage) return own;
    // Azure and path storage take bytes through `POST /v1/uploads` only.
    if ((tenant.storage.kind ?? 's3') !== 's3') return undefined;
    const { endpoint, region, accessKeyId, encryptedSecret } = tenant.storage;
    return client({ endpoint, region, accessKey: accessKeyId, secretKey: secrets.open(encryptedSecret) });
  };
}

/** What intake learned of an object by reading it, never by taking the sender's word. */
export type VerifiedUpload = InspectedImage & { sha256: string; bytes: number };

/** The storage (DeepLens's or the tenant's own) that holds a tenant's objects. */
export type StorageOf = (tenant: ProvisionedTenant) => TenantStorage;

async function readAll(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    total += buffer.length;
    if (total > maxBytes) throw new ValidationError(`the object is over ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Bytes for intake: `POST /v1/uploads` stores them content addressed in the tenant's storage
 * and remembers them here until an intake record registers them or they expire.
 */
export function createIntakeUploads(options: {
  pool: DatabasePool;
  storageOf: StorageOf;
  maxPixels: number;
  clock?: () => number;
  /** Where a tenant's storage is S3, how to presign a PUT into it. */
  presignTarget?: (tenant: ProvisionedTenant) => PresignTarget | undefined;
}) {
  const { pool, storageOf } = options;
  const clock = options.clock ?? Date.now;
  const readyBuckets = new Set<string>();

  return {
    /** Stores checked image bytes and returns the reference an intake record names. */
    async put(
      tenant: ProvisionedTenant,
      bytes: Buffer,
    ): Promise<VerifiedUpload & { objectKey: string; expiresAt: number }> {
      // Its size was cut off as it streamed in (`largestImageBytes`, the decider's rule): not again here.
      const image = await inspectImage(bytes, {
        maxBytes: Number.POSITIVE_INFINITY,
        maxPixels: options.maxPixels,
      });
      const sha256 = sha256Hex(bytes);
      const storage = storageOf(tenant);
      if (!readyBuckets.has(storage.bucket)) {
        await storage.store.ensureBucket(storage.bucket);
        readyBuckets.add(storage.bucket);
      }
      const objectKey = storage.keyOf(sha256);
      await storage.store.put(storage.bucket, objectKey, bytes, image.mime);
      const expiresAt = clock() + uploadLifetimeMs;
      await recordUpload(pool, {
        tenantId: tenant.tenantId,
        objectKey,
        sha256,
        mime: image.mime,
        bytes: bytes.length,
        width: image.width,
        height: image.height,
        expiresAt,
      });
      return { ...image, sha256, bytes: bytes.length, objectKey, expiresAt };
    },

    /**
     * Reads the object a `RegisterImage` record names and checks it against the record: it must
     * be an upload of this tenant not yet expired, and its real sha256, type, size and
     * dimensions must be what the record says. Throws `ValidationError` naming the difference.
     */
    async verify(tenant: ProvisionedTenant, record: RegisterImageRecord): Promise<VerifiedUpload> {
      const upload = await uploadStanding(pool, tenant.tenantId, record.objectKey, clock());
      if (!upload)
        throw new ValidationError(
          `no upload ${record.objectKey} of this tenant: put the bytes with POST /v1/uploads`,
        );
      if (upload.expired && !upload.registered)
        throw new ValidationError(`the upload ${record.objectKey} expired before it was registered`);
      const storage = storageOf(tenant);
      const stored = await storage.store.stat(storage.bucket, record.objectKey);
      if (!stored) throw new ValidationError(`no object ${record.objectKey} in the tenant's storage`);
      const bytes = await readAll(
        await storage.store.get(storage.bucket, record.objectKey),
        largestImageBytes(tenant),
      );
      // Cut off at the decider's size rule as it was read: not checked again here.
      const image = await inspectImage(bytes, {
        maxBytes: Number.POSITIVE_INFINITY,
        maxPixels: options.maxPixels,
      });
      const actual = { sha256: sha256Hex(bytes), bytes: bytes.length, ...image };
      const claimed = {
        sha256: record.sha256,
        mime: record.mime,
        bytes: record.bytes,
        width: record.width,
        height: record.height,
      };
      const differences = (Object.keys(claimed) as (keyof typeof claimed)[]).filter(
        (field) => claimed[field] !== actual[field],
      );
      // Objects are content addressed: bytes under another sha256's key would corrupt every
      // later image that shares that address.
      if (record.objectKey !== storage.keyOf(actual.sha256))
        throw new ValidationError(
          `the object ${record.objectKey} does not hold the bytes its key names (sha256 ${actual.sha256})`,
        );
      if (differences.length > 0) {
        throw new ValidationError(
          `the record does not describe the object ${record.objectKey}: ${differences
            .map((field) => `${field} is ${String(actual[field])}, not ${String(claimed[field])}`)
            .join('; ')}`,
          { detail: { actual: Object.fromEntries(differences.map((f) => [f, actual[f]])) } },
        );
      }
      return actual;
    },

    /**
     * A presigned PUT URL for bytes the integration sends straight to the tenant's S3 storage
     * (its own bucket, or DeepLens's when that is S3): the object key is the content address
     * of the sha256 it announces; intake checks the bytes when a record registers them.
     * Undefined where the storage is DeepLens's filesystem.
     */
    async presign(
      tenant: ProvisionedTenant,
      announced: { sha256: string; mime: string; bytes: number },
    ): Promise<{ objectKey: string; url: string; expiresAt: number } | undefined> {
      const target = options.presignTarget?.(tenant);
      if (!target) return undefined;
      const storage = storageOf(tenant);
      if (!readyBuckets.has(storage.bucket)) {
        await storage.store.ensureBucket(storage.bucket);
        readyBuckets.add(storage.bucket);
      }
      const objectKey = storage.keyOf(announced.sha256);
      const url = await target.presignPut(storage.bucket, objectKey, presignedUrlSeconds);
      const expiresAt = clock() + uploadLifetimeMs;
      // Dimensions unknown until intake reads the bytes a record registers.
      await recordUpload(pool, {
        tenantId: tenant.tenantId,
        objectKey,
        sha256: announced.sha256,
        mime: announced.mime,
        bytes: announced.bytes,
        width: 0,
        height: 0,
        expiresAt,
      });
      return { objectKey, url, expiresAt };
    },

    /** The upload was registered: it no longer expires. */
    async registered(tenantId: string, objectKey: string): Promise<void> {
      await markUploadRegistered(pool, tenantId, objectKey);
    },

    /**
     * Deletes uploads never registered before they expired, and their objects unless an image
     * of the tenant has the same bytes. Returns how many were removed.
     */
    async sweepExpired(
      tenantOf: (tenantId: string) => Promise<ProvisionedTenant | undefined>,
      log?: Logger,
    ): Promise<number> {
      const expired = await expiredUnregisteredUploads(pool, clock(), 500);
      for (const row of expired) {
        const tenant = await tenantOf(row.tenant_id);
        if (tenant) {
          // Kept while an image or another pending upload of the tenant has the same bytes.
          const released = await releaseImageBytes({
            pool,
            storage: storageOf(tenant),
            tenantId: row.tenant_id,
            sha256: row.sha256,
            now: clock,
          }).catch((error: unknown) => {
            log?.warn('an expired upload could not be deleted', { objectKey: row.object_key, error });
            return 'failed' as const;
          });
          if (released === 'failed') continue; // tried again at the next sweep
        }
        await deleteUnregisteredUpload(pool, row.tenant_id, row.object_key);
      }
      return expired.length;
    },
  };
}

export type IntakeUploads = ReturnType<typeof createIntakeUploads>;
