import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import * as Minio from 'minio';
import { azureAccountEndpoint, azureObjectStore, type AzureSettings } from './azureObjectStore.ts';
import type { Config } from './config.ts';
import { isDependencyUnavailable } from './dependencyFailures.ts';
import { pathObjectStore } from './pathObjectStore.ts';
import { DeepLensError, NotFoundError, UnavailableError, ValidationError } from './errors.ts';

export interface StoredObject {
  size: number;
  contentType: string;
}

/**
 * Where image bytes and thumbnails live. A bucket per tenant; keys are content addressed by
 * the caller, so a `put` of an existing key is a harmless overwrite with the same bytes.
 */
export interface ObjectStore {
  ensureBucket(bucket: string): Promise<void>;
  put(bucket: string, key: string, body: Buffer, contentType: string): Promise<void>;
  get(bucket: string, key: string): Promise<Readable>;
  stat(bucket: string, key: string): Promise<StoredObject | undefined>;
  delete(bucket: string, key: string): Promise<void>;
  /** The keys in a bucket that start with `prefix` (none when the bucket does not exist). */
  list(bucket: string, prefix?: string): AsyncIterable<string>;
  /** Removes the bucket and everything in it (tenant erasure). */
  deleteBucket(bucket: string): Promise<void>;
}

const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const keyPattern = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,511}$/;

/** Refuses a bucket name S3 would not take and a key that is not a plain relative path. */
export function checkName(bucket: string, key?: string): void {
  if (!bucketPattern.test(bucket)) throw new ValidationError(`invalid bucket name: ${bucket}`);
  if (
    key !== undefined &&
    (!keyPattern.test(key) || key.split('/').some((p) => p === '..' || p === '.' || p === ''))
  ) {
    throw new ValidationError(`invalid object key: ${key}`);
  }
}

/** Objects as files under one folder: `<dir>/<bucket>/<key>`, written atomically (temp file + rename). */
export function fileSystemObjectStore(directory: string): ObjectStore {
  const root = resolve(directory);
  const pathOf = (bucket: string, key?: string) => {
    checkName(bucket, key);
    return key === undefined ? join(root, bucket) : join(root, bucket, key);
  };
  const contentTypeFile = (path: string) => `${path}.content-type`;
  return {
    async ensureBucket(bucket) {
      await mkdir(pathOf(bucket), { recursive: true });
    },
    async put(bucket, key, body, contentType) {
      const path = pathOf(bucket, key);
      const temp = `${path}.${randomUUID()}.tmp`;
      // Two plain writes and two renames; the folder is made only when a write finds it missing.
      const write = async () => {
        await writeFile(contentTypeFile(temp), contentType);
        await writeFile(temp, body);
      };
      await write().catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        await mkdir(dirname(path), { recursive: true });
        await write();
      });
      await rename(contentTypeFile(temp), contentTypeFile(path));
      await rename(temp, path);
    },
    async get(bucket, key) {
      const path = pathOf(bucket, key);
      if ((await stat(path).catch(() => undefined)) === undefined)
        throw new NotFoundError(`no object ${bucket}/${key}`);
      return createReadStream(path);
    },
    async stat(bucket, key) {
      const path = pathOf(bucket, key);
      const info = await stat(path).catch(() => undefined);
      if (!info) return undefined;
      const contentType = await readFile(contentTypeFile(path), 'utf8').catch(
        () => 'application/octet-stream',
      );
      return { size: info.size, contentType };
    },
    async delete(bucket, key) {
      const path = pathOf(bucket, key);
      await rm(path, { force: true });
      await rm(contentTypeFile(path), { force: true });
    },
    async *list(bucket, prefix = '') {
      const base = pathOf(bucket);
      const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return [];
          throw error;
        },
      );
      for (const entry of entries) {
        if (!entry.isFile() || /\.(content-type|tmp)$/.test(entry.name)) continue;
        const key = relative(base, join(entry.parentPath, entry.name)).split(sep).join('/');
        if (key.startsWith(prefix)) yield key;
      }
    },
    async deleteBucket(bucket) {
      await rm(pathOf(bucket), { recursive: true, force: true });
    },
  };
}

export interface S3Settings {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  /**
   * How long one call may wait for an answer, and a download for its next bytes, before it fails
   * as unavailable (retriable). The `minio` client sets no timeout of its own, so a connection
   * that a restarting server accepted and never answered would hold its caller for ever.
   */
  timeoutMs?: number;
}

const defaultS3TimeoutMs = 30_000;

/** `work`, or an UnavailableError when it has not settled within `ms` (the work is abandoned). */
export function withinDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UnavailableError(`object storage did not answer ${what} within ${ms} ms`)),
      ms,
    );
  });
  work.catch(() => undefined); // settled after the deadline: nobody is waiting for it
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/**
 * Object storage answered, but not as S3 does, or refused us (bad credentials, no access): a 502,
 * our upstream's fault, which a retry will not mend. Its words stay in the log (the cause).
 */
export class ObjectStorageError extends DeepLensError {
  readonly code = 'storage_error';
  readonly status = 502;
}

const storageUnreachableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);
const storageBusyCodes = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout']);

/**
 * Every failure of an S3 call as one of ours: no such object 404; unreachable or busy 503
 * (retriable); anything else — an endpoint that is not S3, refused credentials — 502.
 */
export function storageError(error: unknown): DeepLensError {
  if (error instanceof DeepLensError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket') {
    return new NotFoundError('no such object', { cause: error });
  }
  if (
    (typeof code === 'string' && (storageUnreachableCodes.has(code) || storageBusyCodes.has(code))) ||
    isDependencyUnavailable(error)
  ) {
    return new UnavailableError('object storage is unavailable', { cause: error });
  }
  return new ObjectStorageError('object storage refused the request or did not answer as S3', {
    cause: error,
    detail: { storageCode: typeof code === 'string' && /^[A-Za-z]{1,64}$/.test(code) ? code : 'unknown' },
  });
}

/** Objects in an S3-compatible service through the `minio` client. */
export function s3ObjectStore(settings: S3Settings): ObjectStore {
  const url = new URL(settings.endpoint);
  const client = new Minio.Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
    useSSL: url.protocol === 'https:',
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    region: settings.region,
    pathStyle: true,
  });
  const unavailable = (error: unknown): never => {
    throw storageError(error);
  };
  const timeoutMs = settings.timeoutMs ?? defaultS3TimeoutMs;
  const answer = <T>(work: Promise<T>, what: string) => withinDeadline(work, timeoutMs, what);
  return {
    async ensureBucket(bucket) {
      checkName(bucket);
      try {
        if (!(await answer(client.bucketExists(bucket), 'bucketExists')))
          await answer(client.makeBucket(bucket, settings.region), 'makeBucket');
      } catch (error) {
        // Two processes creating the same bucket at once: the loser sees it exists.
        if ((error as { code?: string }).code !== 'BucketAlreadyOwnedByYou') unavailable(error);
      }
    },
    async put(bucket, key, body, contentType) {
      checkName(bucket, key);
      await answer(
        client.putObject(bucket, key, body, body.length, { 'Content-Type': contentType }),
        'putObject',
      ).catch(unavailable);
    },
    async get(bucket, key) {
      checkName(bucket, key);
      const stream = await answer(client.getObject(bucket, key), 'getObject').catch(unavailable);
      // A download that stops sending fails like a call that never answered.
      const idle = stream as Readable & { setTimeout?: (ms: number, onTimeout: () => void) => unknown };
      idle.setTimeout?.(timeoutMs, () =>
        stream.destroy(new UnavailableError(`object storage stopped sending for ${timeoutMs} ms`)),
      );
      return stream;
    },
    async stat(bucket, key) {
      checkName(bucket, key);
      try {
        const info = await answer(client.statObject(bucket, key), 'statObject');
        return {
          size: info.size,
          contentType: String(info.metaData['content-type'] ?? 'application/octet-stream'),
        };
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchBucket') return undefined;
        return unavailable(error);
      }
    },
    async delete(bucket, key) {
      checkName(bucket, key);
      await answer(client.removeObject(bucket, key), 'removeObject').catch(unavailable);
    },
    async *list(bucket, prefix = '') {
      checkName(bucket);
      if (!(await answer(client.bucketExists(bucket), 'bucketExists').catch(unavailable))) return;
      try {
        for await (const item of client.listObjectsV2(bucket, prefix, true) as AsyncIterable<{
          name?: string;
        }>) {
          if (typeof item.name === 'string') yield item.name;
        }
      } catch (error) {
        unavailable(error);
      }
    },
    async deleteBucket(bucket) {
      checkName(bucket);
      if (!(await answer(client.bucketExists(bucket), 'bucketExists').catch(unavailable))) return;
      const keys: string[] = [];
      for await (const item of client.listObjectsV2(bucket, '', true) as AsyncIterable<{ name?: string }>) {
        if (typeof item.name === 'string') keys.push(item.name);
      }
      if (keys.length > 0)
        await answer(client.removeObjects(bucket, keys), 'removeObjects').catch(unavailable);
      await answer(client.removeBucket(bucket), 'removeBucket').catch(unavailable);
    },
  };
}

/**
 * The object store the configuration names: the local filesystem by default, S3 when
 * `OBJECT_STORE=s3`, Azure Blob Storage when `OBJECT_STORE=azure`, and the confined, fsync'd
 * path store over `OBJECT_STORE_DIR` (a local disk or an NFS mount) when `OBJECT_STORE=path`.
 */
export function createObjectStore(config: Config): ObjectStore {
  switch (config.OBJECT_STORE) {
    case 's3':
      return s3ObjectStore({
        endpoint: config.S3_ENDPOINT,
        region: config.S3_REGION,
        accessKey: config.S3_ACCESS_KEY,
        secretKey: config.S3_SECRET_KEY,
      });
    case 'azure':
      return azureObjectStore(platformAzureSettings(config));
    case 'path':
      return pathObjectStore({ root: config.OBJECT_STORE_DIR, path: '.', initialize: true });
    case 'fs':
      return fileSystemObjectStore(config.OBJECT_STORE_DIR);
  }
}

/** DeepLens's own Azure account (`AZURE_*`): a SAS token when one is set, else the account key. */
export function platformAzureSettings(config: Config): AzureSettings {
  return {
    endpoint: config.AZURE_BLOB_ENDPOINT ?? azureAccountEndpoint(config.AZURE_STORAGE_ACCOUNT),
    account: config.AZURE_STORAGE_ACCOUNT,
    credential: config.AZURE_SAS_TOKEN
      ? { kind: 'sasToken', token: config.AZURE_SAS_TOKEN }
      : { kind: 'sharedKey', accountKey: config.AZURE_STORAGE_KEY },
  };
}

/** The content address of some bytes: their SHA-256, hex. */
export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
