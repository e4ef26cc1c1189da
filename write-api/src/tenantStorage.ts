import type { Config } from '@deeplens/platform/config';

/** The bucket that holds one tenant's objects in DeepLens's own storage. */
export function tenantBucket(config: Pick<Config, 'S3_BUCKET_PREFIX'>, tenantId: string): string {
  return `${config.S3_BUCKET_PREFIX}${tenantId}`;
}

/** Objects are content addressed: the same bytes stored twice by one tenant are one object. */
export function imageObjectKey(sha256: string): string {
  return `images/${sha256.slice(0, 2)}/${sha256}`;
}
