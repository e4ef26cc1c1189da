import { buffer as readAll } from 'node:stream/consumers';
import type { TenantState } from '@deeplens/commands/tenant/tenantState';
import type { ImageUploaded } from '@deeplens/events/imageEvents';
import { NotFoundError } from '@deeplens/platform/errors';
import type { TenantStorage, TenantWithStorage } from '@deeplens/platform/tenantStorage';

export type FetchUploadDependencies = {
  /** The tenant's write-model state (`handler.load(tenantDecider, id)`). */
  loadTenant: (tenantId: string) => Promise<TenantState>;
  storageOf: (tenant: TenantWithStorage) => TenantStorage;
};

/** The upload's bytes and the tenant storage they came from, or why the image cannot be embedded. */
export type FetchedUpload =
  { outcome: 'fetched'; bytes: Buffer; storage: TenantStorage } | { outcome: 'failed'; reason: string };

/**
 * The fetch stage: reads an upload's object from its tenant's storage. A tenant that no longer
 * exists or an object that is missing (the image was deleted meanwhile) is a final answer for
 * the image (`failed`, recorded as `ImageEmbeddingFailed`). Anything else is thrown as it is: an
 * outage (`UnavailableError`, retriable) is retried by the consumer runtime and then given back
 * to Kafka, never dead-lettered; storage that refuses us (`ObjectStorageError`) is the record's
 * failure.
 */
export async function fetchUpload(
  upload: ImageUploaded,
  { loadTenant, storageOf }: FetchUploadDependencies,
): Promise<FetchedUpload> {
  const { tenantId, objectKey } = upload.data;
  const tenant = await loadTenant(tenantId);
  if (tenant.status === 'initial' || tenant.status === 'deleted')
    return { outcome: 'failed', reason: 'the tenant no longer exists' };
  const storage = storageOf(tenant);
  try {
    const bytes = await readAll(await storage.store.get(storage.bucket, objectKey));
    return { outcome: 'fetched', bytes, storage };
  } catch (error) {
    if (error instanceof NotFoundError)
      return { outcome: 'failed', reason: `the image object ${objectKey} is missing` };
    throw error;
  }
}
