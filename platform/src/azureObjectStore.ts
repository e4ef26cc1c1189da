import type { Readable } from 'node:stream';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  AnonymousCredential,
  BlobServiceClient,
  generateAccountSASQueryParameters,
  RestError,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { DeepLensError, NotFoundError, UnavailableError, ValidationError } from './errors.ts';
import { checkName, ObjectStorageError, storageError, type ObjectStore } from './objectStore.ts';

/** How DeepLens signs its requests to a Blob service: the account key, or a SAS token. */
export type AzureCredential = { kind: 'sharedKey'; accountKey: string } | { kind: 'sasToken'; token: string };

export interface AzureSettings {
  /**
   * The Blob service URL: `https://<account>.blob.core.windows.net`, or Azurite's path-style
   * `http://127.0.0.1:<port>/<account>`.
   */
  endpoint: string;
  /** The storage account's name (signs shared-key requests). */
  account: string;
  credential: AzureCredential;
}

/** The Blob service URL of an account in Azure's public cloud. */
export function azureAccountEndpoint(account: string): string {
  return `https://${account}.blob.core.windows.net`;
}

/** Azure's rules for an account name: 3–24 lowercase letters and digits. */
export const azureAccountPattern = /^[a-z0-9]{3,24}$/;

/**
 * Azure's rules for a container name (stricter than S3's for a bucket): 3–63 lowercase letters,
 * digits and hyphens, starting and ending with a letter or digit, no two hyphens in a row.
 */
export function isAzureContainerName(name: string): boolean {
  return /^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$/.test(name) && !name.includes('--');
}

function containerOf(bucket: string): string {
  checkName(bucket);
  if (!isAzureContainerName(bucket)) throw new ValidationError(`invalid Azure container name: ${bucket}`);
  return bucket;
}

const busyStatuses = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Every failure of a Blob service call as one of ours: no such blob or container 404; the
 * service unreachable or busy 503 (retriable); refused (credentials, SAS scope) or not Azure 502.
 */
export function azureStorageError(error: unknown): DeepLensError {
  if (error instanceof DeepLensError) return error;
  if (error instanceof RestError || (error as { name?: string }).name === 'RestError') {
    const { statusCode, code } = error as RestError;
    if (statusCode === 404) return new NotFoundError('no such object', { cause: error });
    if (code === 'REQUEST_SEND_ERROR' || (statusCode !== undefined && busyStatuses.has(statusCode))) {
      return new UnavailableError('object storage is unavailable', { cause: error });
    }
    if (statusCode === undefined) return storageError(error);
    return new ObjectStorageError('object storage refused the request or did not answer as Azure Blob', {
      cause: error,
      detail: {
        storageCode: typeof code === 'string' && /^[A-Za-z]{1,64}$/.test(code) ? code : String(statusCode),
      },
    });
  }
  return storageError(error);
}

/**
 * Objects in Azure Blob Storage (or Azurite): a bucket is a container, a key a block blob.
 * Retries are few and short: a storage outage answers 503 in seconds, not minutes.
 */
export function azureObjectStore(settings: AzureSettings): ObjectStore {
  const options: StoragePipelineOptions = {
    retryOptions: { maxTries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1000, tryTimeoutInMs: 30_000 },
  };
  const base = settings.endpoint.replace(/\/+$/, '');
  const { credential } = settings;
  const service =
    credential.kind === 'sharedKey'
      ? new BlobServiceClient(
          base,
          new StorageSharedKeyCredential(settings.account, credential.accountKey),
          options,
        )
      : new BlobServiceClient(
          `${base}?${credential.token.replace(/^\?/, '')}`,
          new AnonymousCredential(),
          options,
        );
  const fail = (error: unknown): never => {
    throw azureStorageError(error);
  };
  const blob = (bucket: string, key: string) => {
    checkName(bucket, key);
    return service.getContainerClient(containerOf(bucket)).getBlockBlobClient(key);
  };

  return {
    async ensureBucket(bucket) {
      const container = service.getContainerClient(containerOf(bucket));
      try {
        await container.createIfNotExists();
      } catch (error) {
        // A SAS scoped to one container may not create it: it is the tenant's, and exists.
        if (credential.kind === 'sasToken' && (error as RestError).statusCode === 403) return;
        fail(error);
      }
    },
    async put(bucket, key, body, contentType) {
      await blob(bucket, key)
        .upload(body, body.length, { blobHTTPHeaders: { blobContentType: contentType } })
        .catch(fail);
    },
    async get(bucket, key) {
      const response = await blob(bucket, key).download().catch(fail);
      const stream = response.readableStreamBody;
      if (!stream) throw new ObjectStorageError('the Blob service sent no body');
      return stream as Readable;
    },
    async stat(bucket, key) {
      try {
        const properties = await blob(bucket, key).getProperties();
        return {
          size: properties.contentLength ?? 0,
          contentType: properties.contentType ?? 'application/octet-stream',
        };
      } catch (error) {
        if ((error as RestError).statusCode === 404) return undefined;
        return fail(error);
      }
    },
    async delete(bucket, key) {
      await blob(bucket, key).deleteIfExists().catch(fail);
    },
    async *list(bucket, prefix = '') {
      const container = service.getContainerClient(containerOf(bucket));
      try {
        for await (const item of container.listBlobsFlat({ prefix })) yield item.name;
      } catch (error) {
        if ((error as RestError).statusCode === 404) return;
        fail(error);
      }
    },
    async deleteBucket(bucket) {
      await service.getContainerClient(containerOf(bucket)).deleteIfExists().catch(fail);
    },
  };
}

/**
 * A SAS token for the Blob service of an account, signed with its key (read, write, delete,
 * list, add, create on service, containers and blobs), valid for `seconds`: what an operator
 * hands DeepLens instead of the key, and what the tests give a tenant.
 */
export function azureAccountSas(account: string, accountKey: string, seconds: number): string {
  return generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + seconds * 1000),
      permissions: AccountSASPermissions.parse('rwdlac'),
      services: AccountSASServices.parse('b').toString(),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
    },
    new StorageSharedKeyCredential(account, accountKey),
  ).toString();
}
