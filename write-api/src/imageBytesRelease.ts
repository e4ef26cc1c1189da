import { buffer as readAll } from 'node:stream/consumers';
import type { Kafka } from 'kafkajs';
import type { CommandHandler } from '@deeplens/commands/commandHandler';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { ProvisionedTenant } from '@deeplens/commands/tenant/tenantState';
import { bytesInUse } from '@deeplens/commands/writeModelQueries';
import type { DeepLensEvent } from '@deeplens/events/domainEvent';
import type { EventSerde } from '@deeplens/events/eventSerde';
import { topics } from '@deeplens/events/topics';
import { startConsumerRuntime, type ConsumerRuntime } from '@deeplens/platform/consumerRuntime';
import type { DatabasePool } from '@deeplens/platform/database';
import { NotFoundError } from '@deeplens/platform/errors';
import type { Logger } from '@deeplens/platform/logger';
import type { TenantStorage } from '@deeplens/platform/tenantStorage';

/** Where an object waits while it is being released: back in place if it turns out to be needed. */
const releasing = (key: string) => `${key}.releasing`;

async function getIfThere(
  storage: TenantStorage,
  key: string,
): Promise<{ bytes: Buffer; contentType: string } | undefined> {
  const found = await storage.store.stat(storage.bucket, key);
  if (!found) return undefined;
  try {
    return {
      bytes: await readAll(await storage.store.get(storage.bucket, key)),
      contentType: found.contentType,
    };
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

async function keysUnder(storage: TenantStorage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of storage.store.list(storage.bucket, prefix)) keys.push(key);
  return keys;
}

export type ReleaseOutcome = 'released' | 'in use';

/**
 * Deletes the tenant's bytes `sha256` — the original and every thumbnail of it — unless the
 * tenant still needs them (`bytesInUse`: an active image, or an intake upload waiting to be
 * registered). Objects are content addressed, so an upload of the same bytes can commit at any
 * moment: each object is first copied aside (`<key>.releasing`), then deleted; then the write
 * model is asked again, and if the bytes are needed after all they are put back. An upload that
 * commits after that second look finds its bytes gone and puts them back itself (the upload
 * route's check after its commit). A crash at any line leaves the copies aside, and the next
 * run (a redelivered `ImageDeleted`) restores or drops them. Idempotent.
 */
export async function releaseImageBytes(options: {
  pool: DatabasePool;
  storage: TenantStorage;
  tenantId: string;
  sha256: string;
  now?: () => number;
  /** Test hook: runs after the objects are deleted, before the second look. */
  afterDelete?: () => Promise<void>;
}): Promise<ReleaseOutcome> {
  const { pool, storage, tenantId, sha256 } = options;
  const now = options.now ?? Date.now;
  const { store, bucket } = storage;
  const image = storage.keyOf(sha256);
  const thumbnailPrefix = storage.thumbnailKeyOf(sha256, 0).replace(/0\.webp$/, '');
  const listed = await keysUnder(storage, thumbnailPrefix);
  const thumbnails = listed.filter((key) => !key.endsWith('.releasing'));
  // Copies left aside by a run that stopped half-way, and the objects they stand for.
  const aside = listed
    .filter((key) => key.endsWith('.releasing'))
    .map((key) => key.slice(0, -'.releasing'.length));
  const keys = [...new Set([image, ...thumbnails, ...aside])];

  const putBack = async () => {
    for (const key of keys) {
      const copy = await getIfThere(storage, releasing(key));
      if (copy && !(await store.stat(bucket, key)))
        await store.put(bucket, key, copy.bytes, copy.contentType);
    }
  };
  const dropCopies = async () => {
    for (const key of keys) await store.delete(bucket, releasing(key));
  };

  if (await bytesInUse(pool, tenantId, sha256, now())) {
    await putBack();
    await dropCopies();
    return 'in use';
  }
  for (const key of keys) {
    const object = await getIfThere(storage, key);
    if (object) await store.put(bucket, releasing(key), object.bytes, object.contentType);
  }
  for (const key of keys) await store.delete(bucket, key);
  await options.afterDelete?.();
  const needed = await bytesInUse(pool, tenantId, sha256, now());
  if (needed) await putBack();
  await dropCopies();
  return needed ? 'in use' : 'released';
}

/**
 * After `ImageDeleted`: releases the image's bytes (`releaseImageBytes`) in the tenant's storage
 * unless another of its images or a pending upload has the same bytes. A deleted tenant's
 * objects are the tenant eraser's (its whole bucket goes). A release that cannot be finished
 * halts the partition (never a silent skip); storage that is away is retried.
 */
export function createImageBytesReleaser(options: {
  kafka: Kafka;
  pool: DatabasePool;
  handler: CommandHandler;
  serde: EventSerde;
  log: Logger;
  storageOf: (tenant: ProvisionedTenant) => TenantStorage;
  groupId?: string;
  topic?: string;
}) {
  const { pool, handler, log } = options;
  let runtime: ConsumerRuntime | undefined;

  async function release(tenantId: string, sha256: string): Promise<ReleaseOutcome | 'tenant erased'> {
    const tenant = await handler.load(tenantDecider, tenantId);
    if (tenant.status === 'initial' || tenant.status === 'deleted') return 'tenant erased';
    return releaseImageBytes({ pool, storage: options.storageOf(tenant), tenantId, sha256 });
  }

  return {
    release,
    async start(): Promise<void> {
      runtime = await startConsumerRuntime<DeepLensEvent>({
        name: 'image-bytes-releaser',
        kafka: options.kafka,
        groupId: options.groupId ?? 'deeplens-image-bytes-releaser',
        topics: [options.topic ?? topics.image],
        log,
        accept: (message) => message.headers?.['event-type']?.toString() === 'ImageDeleted',
        decode: (value) => options.serde.decodeEvent(value),
        handle: async ({ records }) => {
          for (const { value: event } of records) {
            if (event.type !== 'ImageDeleted') continue;
            const outcome = await release(event.data.tenantId, event.data.sha256);
            log.debug('image bytes', { imageId: event.data.imageId, outcome });
          }
        },
        onFailure: 'halt',
        spanName: () => 'release image bytes',
        // A fetch returns as soon as a record arrives: a longer wait only polls an idle topic less.
        maxWaitTimeInMs: 1_000,
      });
    },
    async stop(): Promise<void> {
      await runtime?.stop();
    },
  };
}
