import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { DeepLensError, NotFoundError, ValidationError } from './errors.ts';
import { checkName, ObjectStorageError, type ObjectStore } from './objectStore.ts';

/**
 * A path store answers 503 with this when its folder is not there as it was configured: the
 * mount is missing, stale or another one, or the disk refuses writes. Retriable: the operator
 * mends the mount and the same request then succeeds. An upload that meets it is not accepted.
 */
export class StorageUnavailableError extends DeepLensError {
  readonly code = 'storage_error';
  readonly status = 503;
  override readonly retriable = true;
}

/** The file that marks a folder as prepared storage: absent, the mount is missing. */
export const storageMarker = '.deeplens-storage';

/** errno codes of a mount or disk that is gone, stale or full: the storage is unavailable. */
const unavailableCodes = new Set([
  'ENOENT',
  'ESTALE',
  'EIO',
  'ENOTCONN',
  'ETIMEDOUT',
  'EHOSTDOWN',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EAGAIN',
  'EBUSY',
]);

function pathStoreError(error: unknown, what: string): DeepLensError {
  if (error instanceof DeepLensError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && unavailableCodes.has(code)) {
    return new StorageUnavailableError(`the storage folder is unavailable (${what})`, {
      cause: error,
      detail: { storageCode: code },
    });
  }
  return new ObjectStorageError(`the storage folder refused the request (${what})`, {
    cause: error,
    detail: { storageCode: typeof code === 'string' ? code : 'unknown' },
  });
}

/**
 * The folder `path` names under `root`, or a ValidationError: a relative path (or an absolute one
 * inside the root) without `..` segments. Symlinks and mounts are checked per operation.
 */
export function confinedPath(root: string, path: string): string {
  if (path === '' || path.includes('\0')) throw new ValidationError('a storage path is needed');
  const rootPath = resolve(root);
  if (path.split(/[\\/]+/).includes('..')) {
    throw new ValidationError('the storage path may not contain ".."', { detail: { path } });
  }
  const full = isAbsolute(path) ? normalize(path) : resolve(rootPath, path);
  const inside = relative(rootPath, full);
  if (inside.startsWith('..') || isAbsolute(inside)) {
    throw new ValidationError('the storage path is outside the configured root', { detail: { path } });
  }
  return full;
}

function isWithin(parent: string, child: string): boolean {
  const inside = relative(parent, child);
  return inside === '' || (!inside.startsWith('..') && !isAbsolute(inside));
}

/**
 * Makes `path` (an existing folder under `root`) ready to hold a tenant's objects: checks it is
 * a real folder inside the root (no symlink out) and writes the marker, durably. Done once,
 * when the storage is configured, so a later missing mount is told apart from a new folder.
 */
export async function preparePathStorage(root: string, path: string): Promise<string> {
  const folder = confinedPath(root, path);
  const [realRoot, realFolder] = await Promise.all([
    realpath(resolve(root)).catch((error: unknown) => {
      throw pathStoreError(error, 'the storage root');
    }),
    realpath(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR')
        throw new ValidationError('the storage path is not an existing folder under the root', {
          detail: { path },
        });
      throw pathStoreError(error, 'the storage path');
    }),
  ]);
  if (!isWithin(realRoot, realFolder)) {
    throw new ValidationError('the storage path leads outside the configured root', { detail: { path } });
  }
  if (!(await stat(realFolder)).isDirectory())
    throw new ValidationError('the storage path is not a folder', { detail: { path } });
  await durableWrite(join(realFolder, storageMarker), Buffer.from(`${randomUUID()}\n`)).catch(
    (error: unknown) => {
      throw pathStoreError(error, 'writing the storage marker');
    },
  );
  return realFolder;
}

async function fsyncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Temp file in the same folder, written and fsync'd, renamed over `path`, the folder fsync'd. */
async function durableWrite(path: string, body: Buffer): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  const handle = await open(temp, 'wx', 0o640);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await fsyncDirectory(join(path, '..'));
}

export interface PathStoreSettings {
  /** The operator's root (`TENANT_STORAGE_PATH_ROOT`, or `OBJECT_STORE_DIR` for DeepLens's own). */
  root: string;
  /** The tenant's folder under the root. */
  path: string;
  /**
   * Write the marker on first use when it is missing (DeepLens's own folder, which it creates);
   * a tenant's folder is prepared when configured, so a missing marker there means no mount.
   */
  initialize?: boolean;
}

/**
 * Makes the folders of `relativeDir` under `base` one at a time, never through a symlink (a
 * recursive mkdir would follow one planted in the share and create folders outside it).
 */
async function mkdirConfined(base: string, relativeDir: string): Promise<void> {
  let current = base;
  for (const segment of relativeDir.split(sep).filter((part) => part !== '' && part !== '.')) {
    current = join(current, segment);
    try {
      const info = await lstat(current).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        await mkdir(current).catch((made: NodeJS.ErrnoException) => {
          if (made.code !== 'EEXIST') throw made;
        });
        return lstat(current);
      });
      if (!info.isDirectory())
        throw new ObjectStorageError('a symlink or file in the storage folder stands where a folder belongs');
    } catch (error) {
      throw pathStoreError(error, 'mkdir');
    }
  }
}

/**
 * Objects as files in a folder on a local disk or an NFS mount, confined under an operator's
 * root: `<folder>/<bucket>/<key>` plus a `.content-type` file beside each. Every operation
 * checks, before it touches a file, that the folder still resolves (realpath) inside the root,
 * still carries the same marker and is still on the device it was on (a mount that went away or
 * was swapped answers 503), and that no symlink leads out of it. A put is temp file, fsync,
 * rename, fsync of the folder: when it returns, the bytes are on the disk.
 */
export function pathObjectStore(settings: PathStoreSettings): ObjectStore {
  const folder = confinedPath(settings.root, settings.path);
  let seen: { device: number; marker: string } | undefined;
  let initialized = false;

  /** The folder's real path, checked; throws 503 when the mount is not as configured. */
  async function checkedFolder(): Promise<string> {
    try {
      const realRoot = await realpath(resolve(settings.root));
      if (settings.initialize && !initialized) {
        await mkdir(folder, { recursive: true });
        const markerThere = await stat(join(folder, storageMarker)).then(
          () => true,
          () => false,
        );
        if (!markerThere) await preparePathStorage(settings.root, settings.path);
        initialized = true;
      }
      const realFolder = await realpath(folder);
      if (!isWithin(realRoot, realFolder))
        throw new ObjectStorageError('the storage folder leads outside the configured root');
      const markerPath = join(realFolder, storageMarker);
      const missing = (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT')
          throw new StorageUnavailableError('the storage folder is not mounted (its marker is missing)', {
            cause: error,
          });
        throw error;
      };
      const [info, content] = await Promise.all([
        stat(markerPath).catch(missing),
        readFile(markerPath, 'utf8').catch(missing),
      ]);
      // The device alone is not enough: a new mount may be given the number of one gone.
      if (seen === undefined) seen = { device: info.dev, marker: content };
      else if (seen.device !== info.dev || seen.marker !== content)
        throw new StorageUnavailableError('the storage folder is on another mount than before');
      return realFolder;
    } catch (error) {
      throw pathStoreError(error, 'the storage folder');
    }
  }

  /** The file of an object, its parent folders checked to stay inside the storage folder. */
  async function fileOf(bucket: string, key: string, create = false) {
    checkName(bucket, key);
    const base = await checkedFolder();
    const path = join(base, bucket, key);
    const parent = join(path, '..');
    if (create) await mkdirConfined(base, join(bucket, key, '..'));
    const realParent = await realpath(parent).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw pathStoreError(error, 'the object folder');
    });
    if (realParent !== undefined && !isWithin(base, realParent))
      throw new ObjectStorageError('a symlink in the storage folder leads outside it');
    return { path, exists: realParent !== undefined };
  }

  /** lstat of an object file: undefined when absent; a symlink is refused, never followed. */
  async function fileInfo(path: string) {
    const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw pathStoreError(error, 'stat');
    });
    if (info && !info.isFile()) throw new ObjectStorageError('an object in the storage folder is not a file');
    return info;
  }

  return {
    async ensureBucket(bucket) {
      checkName(bucket);
      const base = await checkedFolder();
      await mkdirConfined(base, bucket);
      const real = await realpath(join(base, bucket));
      if (!isWithin(base, real)) throw new ObjectStorageError('the bucket folder leads outside the storage');
    },
    async put(bucket, key, body, contentType) {
      const { path } = await fileOf(bucket, key, true);
      try {
        await durableWrite(`${path}.content-type`, Buffer.from(contentType));
        await durableWrite(path, body);
      } catch (error) {
        throw pathStoreError(error, 'write');
      }
      // The mount may have gone between the check and the write: then the write is not kept.
      await checkedFolder();
    },
    async get(bucket, key) {
      const { path, exists } = await fileOf(bucket, key);
      if (!exists || !(await fileInfo(path))) throw new NotFoundError(`no object ${bucket}/${key}`);
      return createReadStream(path);
    },
    async stat(bucket, key) {
      const { path, exists } = await fileOf(bucket, key);
      const info = exists ? await fileInfo(path) : undefined;
      if (!info) return undefined;
      const contentType = await readFile(`${path}.content-type`, 'utf8').catch(
        () => 'application/octet-stream',
      );
      return { size: info.size, contentType };
    },
    async delete(bucket, key) {
      const { path, exists } = await fileOf(bucket, key);
      if (!exists) return;
      try {
        await rm(path, { force: true });
        await rm(`${path}.content-type`, { force: true });
        await fsyncDirectory(join(path, '..'));
      } catch (error) {
        throw pathStoreError(error, 'delete');
      }
    },
    async *list(bucket, prefix = '') {
      checkName(bucket);
      const base = join(await checkedFolder(), bucket);
      const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return [];
          throw pathStoreError(error, 'list');
        },
      );
      for (const entry of entries) {
        if (!entry.isFile() || /\.(content-type|tmp)$/.test(entry.name)) continue;
        const key = relative(base, join(entry.parentPath, entry.name)).split(sep).join('/');
        if (key.startsWith(prefix)) yield key;
      }
    },
    async deleteBucket(bucket) {
      checkName(bucket);
      const base = await checkedFolder();
      try {
        await rm(join(base, bucket), { recursive: true, force: true });
        // The marker stays (it holds no data of the tenant's): a second erasure, or one while
        // the mount is away, can then tell an emptied folder from a missing mount.
        await fsyncDirectory(base);
      } catch (error) {
        throw pathStoreError(error, 'delete the bucket');
      }
    },
  };
}
