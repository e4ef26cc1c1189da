import type { Kafka } from 'kafkajs';
import type { CommandHandler } from '@deeplens/commands/commandHandler';
import { apiKeyDecider } from '@deeplens/commands/identity/apiKeyDecider';
import { eraseTenantPersonalData } from '@deeplens/commands/identity/erasePersonalData';
import { userDecider } from '@deeplens/commands/identity/userDecider';
import { imageDecider } from '@deeplens/commands/image/imageDecider';
import { liveTenantAggregates, tenantStorageRecord } from '@deeplens/commands/writeModelQueries';
import { apiKeyRules, imageRules, userRules } from '@deeplens/commands/writeModelRules';
import type { DeepLensEvent } from '@deeplens/events/domainEvent';
import type { EventSerde } from '@deeplens/events/eventSerde';
import { topics } from '@deeplens/events/topics';
import { startConsumerRuntime, type ConsumerRuntime } from '@deeplens/platform/consumerRuntime';
import type { DataKeyStore } from '@deeplens/platform/dataKeys';
import { installationDataKeyStore } from '@deeplens/platform/kafkaDataKeyStore';
import type { DatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import type { ObjectStore } from '@deeplens/platform/objectStore';
import type { Config } from '@deeplens/platform/config';
import type { SecretBox } from '@deeplens/platform/secrets';
import { ownStore, tenantBucket, type TenantWithStorage } from '@deeplens/platform/tenantStorage';

/**
 * Erasure after `TenantDeleted`: revokes the tenant's API keys, disables its users, destroys
 * its data key (its name and its users' e-mails and password hashes in the log read as erased
 * from then on), deletes its images (each `ImageDeleted` takes its vector out of the index; the metadata projection drops
 * the tenant's schema on `TenantDeleted`) and removes its objects, in DeepLens's storage and in
 * the storage it brought. Every step is idempotent, so
 * a redelivered event or a crash half-way is finished by the next run.
 */
export function createTenantEraser(options: {
  kafka: Kafka;
  pool: DatabasePool;
  handler: CommandHandler;
  serde: EventSerde;
  log: Logger;
  /** Removes the tenant's objects (`tenantObjectsEraser`: DeepLens's bucket and the storage it brought). */
  eraseObjects: (tenantId: string) => Promise<void>;
  /** Where the tenant's data key is destroyed (crypto-shredding); the installation's by default. */
  dataKeys?: DataKeyStore;
  groupId?: string;
  topic?: string;
}) {
  const { pool, handler, log } = options;
  let runtime: ConsumerRuntime | undefined;

  async function erase(tenantId: string, causationId: string): Promise<void> {
    const origin = (i: string) => ({
      actor: 'system:tenant-eraser' as const,
      causationId,
      idempotency: { scope: 'erasure', key: `${tenantId}:${i}` },
    });
    const owned = await liveTenantAggregates(pool, tenantId);
    for (const { aggregate_type: type, aggregate_id: id } of owned) {
      if (type === 'apiKey')
        await handler.handle(
          apiKeyDecider,
          { type: 'RevokeApiKey', data: { keyId: id, tenantId, reason: 'tenant erased' } },
          origin(id),
          apiKeyRules,
        );
      if (type === 'user')
        await handler.handle(
          userDecider,
          { type: 'DisableUser', data: { userId: id, reason: 'tenant erased' } },
          origin(id),
          userRules,
        );
      if (type === 'image')
        await handler.handle(
          imageDecider,
          { type: 'DeleteImage', data: { tenantId, imageId: id } },
          origin(id),
          imageRules,
        );
    }
    await eraseTenantPersonalData(pool, options.dataKeys ?? installationDataKeyStore(), tenantId);
    await options.eraseObjects(tenantId);
    log.info('tenant erased', { tenantId, keysUsersImages: owned.length });
  }

  return {
    erase,
    async start(): Promise<void> {
      runtime = await startConsumerRuntime<DeepLensEvent>({
        name: 'tenant-eraser',
        kafka: options.kafka,
        groupId: options.groupId ?? 'deeplens-tenant-eraser',
        topics: [options.topic ?? topics.tenant],
        log,
        // Only TenantDeleted is this consumer's business; the rest is passed over undecoded.
        accept: (message) => message.headers?.['event-type']?.toString() === 'TenantDeleted',
        decode: (value) => options.serde.decodeEvent(value),
        handle: async ({ records }) => {
          for (const { value: event, topic, partition, offset } of records) {
            if (event.type === 'TenantDeleted')
              await erase(event.data.tenantId, `${topic}:${partition}:${offset}`);
          }
        },
        // An erasure is never dropped: one that cannot be finished halts (not ready, alert).
        onFailure: 'halt',
        spanName: () => 'erase tenant',
        // A fetch returns as soon as a record arrives: a longer wait only polls an idle topic less.
        maxWaitTimeInMs: 1_000,
      });
    },
    async stop(): Promise<void> {
      await runtime?.stop();
    },
  };
}

/** For objects: what a store needs to erase one tenant's bucket. */
export function bucketEraser(store: ObjectStore, bucketOf: (tenantId: string) => string) {
  return (tenantId: string) => store.deleteBucket(bucketOf(tenantId));
}

/**
 * Erases a tenant's objects wherever they are: its bucket in DeepLens's own storage, and in
 * storage it brought (and the source of a move not released) everything DeepLens put there —
 * a path store's bucket folder with its marker; in an S3 bucket or Azure container, every
 * object under the tenant's prefix in `images/` and `thumbnails/` (the bucket or container is
 * the tenant's and may hold other things, so it stays). Idempotent: a second run finds nothing.
 */
export function tenantObjectsEraser(options: {
  pool: DatabasePool;
  config: Pick<Config, 'S3_BUCKET_PREFIX' | 'TENANT_STORAGE_ALLOWED_ENDPOINTS' | 'TENANT_STORAGE_PATH_ROOT'>;
  defaultStore: ObjectStore;
  secrets: SecretBox;
}) {
  const { pool, config, defaultStore, secrets } = options;
  return async (tenantId: string): Promise<void> => {
    await defaultStore.deleteBucket(tenantBucket(config, tenantId));
    const row = await tenantStorageRecord(pool, tenantId);
    for (const storage of [row?.storage, row?.moveSource]) {
      if (!storage) continue;
      const own = storage as NonNullable<TenantWithStorage['storage']>;
      const { store, bucket } = ownStore(config, secrets, tenantId, own);
      if ((own.kind ?? 's3') === 'path') {
        await store.deleteBucket(bucket);
        continue;
      }
      const base = own.prefix ? `${own.prefix.replace(/\/+$/, '')}/` : '';
      for (const area of ['images/', 'thumbnails/']) {
        const keys: string[] = [];
        for await (const key of store.list(bucket, `${base}${area}`)) keys.push(key);
        for (const key of keys) await store.delete(bucket, key);
      }
    }
  };
}
