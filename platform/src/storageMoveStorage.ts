import { NotFoundError } from './errors.ts';
import type { ObjectStore } from './objectStore.ts';
import type { TenantStorage, TenantWithStorage } from './tenantStorage.ts';

/** What the resolver needs to know of a tenant's last storage move (its write-model state). */
export type StorageMoveOfTenant = {
  status: 'copying' | 'verified' | 'completed' | 'failed';
  /** The source; `null` is DeepLens's own storage. Dropped once the move completes. */
  from: TenantWithStorage['storage'];
};

type Resolve = (tenant: TenantWithStorage) => TenantStorage;

const contentAddressedTail = /(?:^|\/)((?:images|thumbnails)\/[0-9a-f]{2}\/[0-9a-f]{64}(?:-\d{1,5}\.webp)?)$/;

/** The prefix a storage puts before its content-addressed keys ('' or ending in '/'). */
function prefixOf(storage: TenantStorage): string {
  const tail = `images/00/${'0'.repeat(64)}`;
  const probe = storage.keyOf('0'.repeat(64));
  return probe.endsWith(tail) ? probe.slice(0, probe.length - tail.length) : '';
}

/**
 * Where `key` — recorded under whichever storage held the object when it was written — is in
 * `storage`: objects are content addressed, so the tail (`images/ab/<sha256>`,
 * `thumbnails/ab/<sha256>-<size>.webp`) names the object and the storage's prefix goes before
 * it. A key of another shape is left as it is.
 */
export function objectKeyIn(storage: TenantStorage, key: string): string {
  const tail = contentAddressedTail.exec(key)?.[1];
  return tail === undefined ? key : `${prefixOf(storage)}${tail}`;
}

/**
 * The tenant's storage as every reader and writer sees it during and after a move
 * (docs/storage-moves.md): writes go to the target; reads ask the target first and, until the
 * move completes, the source when the target has no such object; keys recorded under the
 * source's prefix are found under the target's.
 */
export function storageDuringMove(target: TenantStorage, source: TenantStorage | undefined): TenantStorage {
  const inTarget = (key: string) => objectKeyIn(target, key);
  const store: ObjectStore = {
    ...target.store,
    put: (bucket, key, body, contentType) => target.store.put(bucket, inTarget(key), body, contentType),
    async get(bucket, key) {
      try {
        return await target.store.get(bucket, inTarget(key));
      } catch (error) {
        if (!source || !(error instanceof NotFoundError)) throw error;
        return source.store.get(source.bucket, objectKeyIn(source, key));
      }
    },
    async stat(bucket, key) {
      const found = await target.store.stat(bucket, inTarget(key));
      if (found || !source) return found;
      return source.store.stat(source.bucket, objectKeyIn(source, key));
    },
    async delete(bucket, key) {
      await target.store.delete(bucket, inTarget(key));
      // The copier could otherwise bring it back from the source it has not reached yet.
      if (source) await source.store.delete(source.bucket, objectKeyIn(source, key));
    },
  };
  return { ...target, store };
}

/**
 * Wraps the tenant's own resolver with its storage move: `current` resolves where the tenant's
 * objects go now, `previous` (a resolver of its own, so the two caches never mix) the move's
 * source. A tenant that never moved gets exactly what `current` gives.
 */
export function withStorageMoves(current: Resolve, previous: Resolve): Resolve {
  return (tenant) => {
    const target = current(tenant);
    const move = tenant.storageMove;
    if (!move) return target;
    const fallsBack = move.status !== 'completed';
    const source = fallsBack
      ? previous({
          tenantId: tenant.tenantId,
          version: tenant.version,
          storage: move.from,
          storageMove: null,
        })
      : undefined;
    return storageDuringMove(target, source);
  };
}
