import { relative, resolve } from 'node:path';
import { z } from 'zod';
import '@deeplens/platform/http/openApiRegistry';
import type { TenantStorage } from '@deeplens/events/tenantEvents';
import {
  azureAccountEndpoint,
  azureAccountPattern,
  isAzureContainerName,
} from '@deeplens/platform/azureObjectStore';
import type { Config } from '@deeplens/platform/config';
import { ValidationError } from '@deeplens/platform/errors';
import { confinedPath, preparePathStorage } from '@deeplens/platform/pathObjectStore';
import type { SecretBox } from '@deeplens/platform/secrets';
import { isAllowedStorageEndpoint, ownStore } from '@deeplens/platform/tenantStorage';

/** A key prefix that stays inside itself: no `.` or `..` segment, no leading `/`, no `//`. */
function isPlainPrefix(prefix: string): boolean {
  if (prefix === '') return true;
  const segments = prefix.replace(/\/$/, '').split('/');
  return segments.every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

const prefix = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9._/-]*$/)
  .refine(isPlainPrefix, 'path segments without "." or "..", and no leading "/"')
  .default('');
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:/.test(u), 'an http(s) URL');

const s3Body = z
  .object({
    kind: z.literal('s3'),
    endpoint: httpUrl,
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
    region: z.string().min(1).max(64).default('us-east-1'),
    prefix,
    accessKeyId: z.string().min(1).max(256),
    secretAccessKey: z.string().min(1).max(512),
  })
  .strict();

const azureBody = z
  .object({
    kind: z.literal('azure'),
    account: z.string().regex(azureAccountPattern, '3-24 lowercase letters and digits').optional(),
    /** The Blob service URL; `https://<account>.blob.core.windows.net` when only the account is given. */
    endpoint: httpUrl.optional(),
    container: z.string().refine(isAzureContainerName, 'an Azure container name'),
    prefix,
    sharedKey: z.string().min(1).max(512).optional(),
    sasToken: z.string().min(1).max(4096).optional(),
  })
  .strict();

const pathBody = z
  .object({
    kind: z.literal('path'),
    path: z.string().min(1).max(1024),
    prefix,
  })
  .strict();

/**
 * `PUT /v1/tenants/{id}/storage`: `{"kind":"s3",…}` (kind optional: the shape from before kinds),
 * `{"kind":"azure",…}` or `{"kind":"path",…}`. An unknown kind is a 400 like any bad field.
 */
export const storageBody = z
  .preprocess(
    (value) =>
      typeof value === 'object' && value !== null && !Array.isArray(value) && !('kind' in value)
        ? { ...value, kind: 's3' }
        : value,
    z.discriminatedUnion('kind', [s3Body, azureBody, pathBody]).superRefine((body, context) => {
      if (body.kind !== 'azure') return;
      if (body.account === undefined && body.endpoint === undefined)
        context.addIssue({ code: 'custom', message: 'an account or an endpoint', path: ['account'] });
      if ((body.sharedKey === undefined) === (body.sasToken === undefined))
        context.addIssue({
          code: 'custom',
          message: 'exactly one credential: sharedKey or sasToken',
          path: ['sharedKey'],
        });
    }),
  )
  .openapi({
    description:
      'The storage: `s3` (`kind` may be left out, the shape from before kinds), `azure` (an account or endpoint, and one credential: sharedKey or sasToken) or `path` (a folder under TENANT_STORAGE_PATH_ROOT)',
  });
export type StorageBody = z.infer<typeof storageBody>;

/** The account an Azure endpoint names: the first label of its host, or Azurite's first path segment. */
function azureAccountOf(endpoint: string): string {
  const url = new URL(endpoint);
  const fromHost = /^([a-z0-9]{3,24})\.blob\./.exec(url.hostname)?.[1];
  const account = fromHost ?? url.pathname.split('/').find((segment) => segment !== '');
  if (!account || !azureAccountPattern.test(account))
    throw new ValidationError('the Azure endpoint names no account; give "account"', {
      detail: { endpoint },
    });
  return account;
}

/**
 * A storage body as the decider takes it: checked against this installation (endpoints on the
 * allow-list, a path inside `TENANT_STORAGE_PATH_ROOT` and prepared there, an Azure container
 * reachable with the credential), its secret sealed, so the decider, the events and the log only
 * ever see ciphertext. Bad input is a 400; storage that does not answer a 502 or 503.
 */
export async function storageSettings(
  body: StorageBody,
  tenantId: string,
  config: Pick<Config, 'TENANT_STORAGE_ALLOWED_ENDPOINTS' | 'TENANT_STORAGE_PATH_ROOT' | 'S3_BUCKET_PREFIX'>,
  secrets: SecretBox,
): Promise<TenantStorage> {
  const notAllowed = (endpoint: string) =>
    new ValidationError('this storage endpoint is not allowed here', {
      detail: { endpoint, allowed: config.TENANT_STORAGE_ALLOWED_ENDPOINTS },
    });
  switch (body.kind) {
    case 's3':
      // The APIs and the embedder will send requests wherever this points: only where allowed.
      if (!isAllowedStorageEndpoint(body.endpoint, config.TENANT_STORAGE_ALLOWED_ENDPOINTS))
        throw notAllowed(body.endpoint);
      return {
        kind: 's3',
        endpoint: body.endpoint,
        bucket: body.bucket,
        region: body.region,
        prefix: body.prefix,
        accessKeyId: body.accessKeyId,
        encryptedSecret: secrets.seal(body.secretAccessKey),
        credential: null,
        path: null,
      };
    case 'azure': {
      const account = body.account ?? azureAccountOf(body.endpoint ?? '');
      const endpoint = body.endpoint ?? azureAccountEndpoint(account);
      if (!isAllowedStorageEndpoint(endpoint, config.TENANT_STORAGE_ALLOWED_ENDPOINTS))
        throw notAllowed(endpoint);
      const credential = body.sasToken !== undefined ? 'sasToken' : 'sharedKey';
      const storage: TenantStorage = {
        kind: 'azure',
        endpoint,
        bucket: body.container,
        region: '',
        prefix: body.prefix,
        accessKeyId: account,
        encryptedSecret: secrets.seal(body.sasToken ?? body.sharedKey ?? ''),
        credential,
        path: null,
      };
      // Reachable with this credential, and the container there (made when the key may).
      const { store, bucket } = ownStore(config, secrets, tenantId, storage);
      await store.ensureBucket(bucket);
      return storage;
    }
    default: {
      const root = config.TENANT_STORAGE_PATH_ROOT;
      if (!root) throw new ValidationError('path storage is not enabled here (no TENANT_STORAGE_PATH_ROOT)');
      const folder = confinedPath(root, body.path);
      const path = relative(resolve(root), folder);
      // The root holds every tenant's folder: a tenant gets one of them, never the root.
      if (path === '') throw new ValidationError('the storage path must be a folder under the root');
      await preparePathStorage(root, path);
      return {
        kind: 'path',
        endpoint: '',
        bucket: '',
        region: '',
        prefix: body.prefix,
        accessKeyId: '',
        encryptedSecret: '',
        credential: null,
        path,
      };
    }
  }
}

/** A tenant's storage as the API shows it: its kind and place, never a secret. */
export const storageViewAnswer = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('s3'),
        endpoint: z.string(),
        bucket: z.string(),
        region: z.string(),
        prefix: z.string(),
        accessKeyId: z.string(),
      })
      .strict(),
    z
      .object({
        kind: z.literal('azure'),
        endpoint: z.string(),
        account: z.string(),
        container: z.string(),
        prefix: z.string(),
        credential: z.enum(['sharedKey', 'sasToken']),
      })
      .strict(),
    z.object({ kind: z.literal('path'), path: z.string(), prefix: z.string() }).strict(),
  ])
  .openapi('TenantStorage');

/** A tenant's storage as the API shows it (`storageViewAnswer`): its kind and place, never a secret. */
export function storageView(storage: TenantStorage): z.input<typeof storageViewAnswer> {
  switch (storage.kind ?? 's3') {
    case 'azure':
      return {
        kind: 'azure' as const,
        endpoint: storage.endpoint,
        account: storage.accessKeyId,
        container: storage.bucket,
        prefix: storage.prefix,
        credential: storage.credential ?? 'sharedKey',
      };
    case 'path':
      return { kind: 'path' as const, path: storage.path ?? '', prefix: storage.prefix };
    default:
      return {
        kind: 's3' as const,
        endpoint: storage.endpoint,
        bucket: storage.bucket,
        region: storage.region,
        prefix: storage.prefix,
        accessKeyId: storage.accessKeyId,
      };
  }
}
