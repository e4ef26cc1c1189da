import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandHandler } from '@deeplens/commands/commandHandler';
import type { StorageMove } from '@deeplens/commands/tenant/storageMove';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { ProvisionedTenant } from '@deeplens/commands/tenant/tenantState';
import {
  activeImageObjectCount,
  activeImageObjectsAfter,
  imageObjectKeys,
  isImageActive,
  tenantsWithUnfinishedStorageMove,
  type ImageObjectsRow,
} from '@deeplens/commands/writeModelQueries';
import { tenantAggregate } from '@deeplens/commands/writeModelRules';
import type { Config } from '@deeplens/platform/config';
import type { DatabasePool } from '@deeplens/platform/database';
import { ConcurrencyError, DeepLensError, NotFoundError, UnavailableError } from '@deeplens/platform/errors';
import type { Logger } from '@deeplens/platform/logger';
import type { ObjectStore } from '@deeplens/platform/objectStore';
import { progressMetrics } from '@deeplens/platform/progressMetrics';
import type { SecretBox } from '@deeplens/platform/secrets';
import { objectKeyIn } from '@deeplens/platform/storageMoveStorage';
import { createTenantStorageResolver, type TenantStorage } from '@deeplens/platform/tenantStorage';
import type { WriteApiDependencies } from './writeApiDependencies.ts';

/** Something the move cannot get past by retrying: the move fails with this reason. */
class StorageMoveFailure extends Error {}

let publishProgress: ReturnType<typeof progressMetrics<'tenant'>> | undefined;
/** The gauges are registered once per process, however many copiers a test builds. */
function progressGauges() {
  publishProgress ??= progressMetrics({
    name: 'deeplens_storage_move',
    what: "Storage move (objects of the tenant's images and thumbnails)",
    labelNames: ['tenant'],
  });
  return publishProgress;
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

export type StorageMoveCopier = {
  /** Runs (or keeps running) the tenant's move in the background; returns at once. */
  start(tenantId: string): void;
  /** Starts every move a crash or a restart left unfinished. */
  resumeAll(): Promise<void>;
  /** Stops after the current step; what is recorded stays recorded. */
  stop(): Promise<void>;
};

/**
 * The background copier of storage moves (docs/storage-moves.md). Its durable cursor is the
 * move in the tenant's write-model state: each batch is copied, read back and checked by
 * sha256, then recorded through the decider, so a crash at any point repeats at most one batch
 * (content addressed: the same bytes again) and never counts it twice.
 */
export function createStorageMoveCopier(deps: {
  config: Config;
  pool: DatabasePool;
  handler: CommandHandler;
  objects: ObjectStore;
  secrets: SecretBox;
  log: Logger;
  batchSize: number;
  /** How long after the start the final verification waits for uploads that resolved the old storage. */
  settleMs: number;
  clock: () => number;
}): StorageMoveCopier {
  const { pool, handler, log } = deps;
  // Separate resolvers for the two ends, so their caches of the tenant's own stores never mix.
  const targetOf = createTenantStorageResolver(deps.config, deps.objects, deps.secrets);
  const sourceOf = createTenantStorageResolver(deps.config, deps.objects, deps.secrets);
  const jobs = new Map<string, Promise<void>>();
  const stopping = new AbortController();

  const origin = (tenantId: string, step: string) => ({
    actor: 'system:storage-move' as const,
    causationId: null,
    idempotency: { scope: `storage-move:${tenantId}`, key: step },
  });

  async function tenantOf(tenantId: string): Promise<ProvisionedTenant | undefined> {
    const state = await handler.load(tenantDecider, tenantId);
    return state.status === 'initial' || state.status === 'deleted' ? undefined : state;
  }

  function ends(
    tenant: ProvisionedTenant,
    move: StorageMove,
  ): { target: TenantStorage; source: TenantStorage } {
    const base = { tenantId: tenant.tenantId, version: tenant.version, storageMove: null };
    return {
      target: targetOf({ ...base, storage: tenant.storage }),
      source: sourceOf({ ...base, storage: move.from }),
    };
  }

  /**
   * Makes sure the target holds the object at `key` with the right bytes; returns its size.
   * `expectedSha256` is the image's (originals); a thumbnail is checked against its source copy.
   */
  async function ensureCopied(
    ends: { target: TenantStorage; source: TenantStorage },
    key: string,
    expectedSha256: string | undefined,
    verifyExisting: boolean,
  ): Promise<number | undefined> {
    const { target, source } = ends;
    const targetKey = objectKeyIn(target, key);
    const sourceKey = objectKeyIn(source, key);
    const present = await target.store.stat(target.bucket, targetKey);
    if (present && (!verifyExisting || expectedSha256 === undefined)) return present.size;
    if (present && expectedSha256 !== undefined) {
      const bytes = await readAll(await target.store.get(target.bucket, targetKey));
      if (sha256Of(bytes) === expectedSha256) return bytes.length;
    }
    const about = await source.store.stat(source.bucket, sourceKey);
    if (!about) return undefined;
    const bytes = await readAll(await source.store.get(source.bucket, sourceKey));
    const sha = sha256Of(bytes);
    if (expectedSha256 !== undefined && sha !== expectedSha256)
      throw new StorageMoveFailure(`${sourceKey} in the old storage does not hash to the image's sha256`);
    await target.store.ensureBucket(target.bucket);
    await target.store.put(target.bucket, targetKey, bytes, about.contentType);
    const back = await readAll(await target.store.get(target.bucket, targetKey));
    // A copy that reads back wrong is written again on the next attempt (retriable).
    if (sha256Of(back) !== sha)
      throw new UnavailableError(`${targetKey} read back from the new storage with other bytes`);
    return bytes.length;
  }

  /** Copies one image's original and thumbnails; the objects and bytes it accounts for. */
  async function copyImage(
    tenantId: string,
    e: { target: TenantStorage; source: TenantStorage },
    image: ImageObjectsRow,
    verifyExisting: boolean,
  ): Promise<{ objects: number; bytes: number }> {
    const size = await ensureCopied(e, image.object_key, image.sha256, verifyExisting);
    if (size === undefined) {
      // Deleted meanwhile (its objects may go with it); else the bytes are lost: the move stops.
      if (!(await isImageActive(pool, image.image_id))) return { objects: 0, bytes: 0 };
      throw new StorageMoveFailure(`${image.object_key} of image ${image.image_id} is in neither storage`);
    }
    let objects = 1;
    let bytes = size;
    for (const thumbnail of image.thumbnails ?? []) {
      const thumbSize = await ensureCopied(e, thumbnail, undefined, verifyExisting);
      // A thumbnail can be made again from the original; one missing does not fail the move.
      if (thumbSize === undefined) {
        log.warn('thumbnail missing in both storages', { tenantId, imageId: image.image_id, key: thumbnail });
        continue;
      }
      objects += 1;
      bytes += thumbSize;
    }
    return { objects, bytes };
  }

  /** One step of the move; false when there is nothing more to do. */
  async function step(tenantId: string): Promise<boolean> {
    const tenant = await tenantOf(tenantId);
    const move = tenant?.storageMove;
    if (!tenant || !move || (move.status !== 'copying' && move.status !== 'verified')) return false;
    const e = ends(tenant, move);
    const { moveId } = move;
    const publish = (done: number, total: number) =>
      progressGauges()(
        { done, total, elapsedMs: Math.max(1, deps.clock() - move.startedAt) },
        { tenant: tenantId },
      );

    if (move.status === 'copying') {
      const batch = await activeImageObjectsAfter(pool, tenantId, move.cursor, deps.batchSize);
      if (batch.length > 0) {
        let { objects, bytes } = move;
        for (const image of batch) {
          const copied = await copyImage(tenantId, e, image, true);
          objects += copied.objects;
          bytes += copied.bytes;
        }
        const cursor = batch.at(-1)!.image_id;
        await handler.handle(
          tenantAggregate,
          { type: 'RecordStorageMoveProgress', data: { tenantId, moveId, cursor, objects, bytes } },
          origin(tenantId, `${moveId}:progress:${cursor}`),
        );
        publish(objects, Math.max(objects, await activeImageObjectCount(pool, tenantId)));
        return true;
      }
      // Uploads that resolved the tenant just before the start may still be storing in the old
      // storage: the final pass waits them out, then checks every object in the target.
      const settle = move.startedAt + deps.settleMs - deps.clock();
      if (settle > 0) await sleep(settle, undefined, { signal: stopping.signal }).catch(() => undefined);
      let objects = 0;
      let bytes = 0;
      for (let cursor = ''; ;) {
        const page = await activeImageObjectsAfter(pool, tenantId, cursor, 500);
        if (page.length === 0) break;
        for (const image of page) {
          const copied = await copyImage(tenantId, e, image, false);
          objects += copied.objects;
          bytes += copied.bytes;
        }
        cursor = page.at(-1)!.image_id;
      }
      await handler.handle(
        tenantAggregate,
        { type: 'VerifyStorageMove', data: { tenantId, moveId, objects, bytes } },
        origin(tenantId, `${moveId}:verified`),
      );
      publish(objects, objects);
      log.info('storage move verified', { tenantId, moveId, objects, bytes });
      return true;
    }

    // Verified: release the old storage, then complete (a crash in between releases again).
    // DeepLens's own bucket for the tenant goes whole, unless (a tenant's bucket of the same name
    // on the same service) it is also the target.
    await releaseSource(tenantId, e.source, move.from === null && e.source.bucket !== e.target.bucket);
    await handler.handle(
      tenantAggregate,
      { type: 'CompleteStorageMove', data: { tenantId, moveId } },
      origin(tenantId, `${moveId}:completed`),
    );
    log.info('storage move completed', { tenantId, moveId });
    return false;
  }

  /** Deletes every object of the tenant's images (any status) from the source. */
  async function releaseSource(tenantId: string, source: TenantStorage, ownBucket: boolean): Promise<void> {
    if (ownBucket) {
      // DeepLens's own bucket for this tenant holds nothing else.
      await source.store.deleteBucket(source.bucket);
      return;
    }
    const rows = await imageObjectKeys(pool, tenantId);
    for (const row of rows) {
      for (const key of [row.object_key, ...(row.thumbnails ?? [])]) {
        await source.store.delete(source.bucket, objectKeyIn(source, key));
      }
    }
  }

  async function run(tenantId: string): Promise<void> {
    let delay = 500;
    while (!stopping.signal.aborted) {
      try {
        if (!(await step(tenantId))) return;
        delay = 500;
      } catch (error) {
        if (error instanceof StorageMoveFailure) {
          const tenant = await tenantOf(tenantId).catch(() => undefined);
          const moveId = tenant?.storageMove?.moveId;
          log.error('storage move failed', { tenantId, moveId, reason: error.message });
          if (moveId)
            await handler
              .handle(
                tenantAggregate,
                { type: 'FailStorageMove', data: { tenantId, moveId, reason: error.message } },
                origin(tenantId, `${moveId}:failed`),
              )
              .catch((cause: unknown) =>
                log.error('recording the failed move failed', { tenantId, error: cause }),
              );
          return;
        }
        // Another copier recorded first: reload and go on from its cursor.
        if (error instanceof ConcurrencyError) continue;
        const retriable = error instanceof DeepLensError ? error.retriable : true;
        log.warn('storage move step failed; retrying', { tenantId, delayMs: delay, retriable, error });
        if (error instanceof NotFoundError) delay = Math.max(delay, 2000);
        await sleep(delay, undefined, { signal: stopping.signal, ref: false }).catch(() => undefined);
        delay = Math.min(30_000, delay * 2);
      }
    }
  }

  return {
    start(tenantId) {
      if (stopping.signal.aborted || jobs.has(tenantId)) return;
      const job = run(tenantId)
        .catch((error: unknown) => log.error('storage move stopped', { tenantId, error }))
        .finally(() => jobs.delete(tenantId));
      jobs.set(tenantId, job);
    },
    async resumeAll() {
      const unfinished = await tenantsWithUnfinishedStorageMove(pool);
      for (const tenantId of unfinished) this.start(tenantId);
    },
    async stop() {
      stopping.abort();
      await Promise.allSettled([...jobs.values()]);
    },
  };
}

/** The copier of a write API, configured from its dependencies. */
export function storageMoveCopierOf(
  deps: Pick<WriteApiDependencies, 'config' | 'pool' | 'handler' | 'objects' | 'secrets' | 'log' | 'clock'>,
): StorageMoveCopier {
  return createStorageMoveCopier({
    ...deps,
    batchSize: deps.config.STORAGE_MOVE_BATCH_SIZE,
    settleMs: deps.config.STORAGE_MOVE_SETTLE_MS,
  });
}
