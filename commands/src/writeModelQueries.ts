/**
 * The write model's reads for the processes beside the command handler (the storage-move
 * copier, the tenant eraser, intake's upload sweep, the first admin's creation, the embedder's
 * choice of space): each a named query over `write.aggregates` and `write.unique_reservations`,
 * so the tables' shape is known here only. Deciders and the command handler read the same rows
 * through `commandHandler.load`; these answer the questions no command asks.
 */
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';

type Reader = Pick<DatabasePool, 'any' | 'anyFirst' | 'maybeOne' | 'maybeOneFirst' | 'oneFirst'>;

const countRow = z.object({ n: z.number() });

/** An active image's objects: its original (content addressed by `sha256`) and thumbnails. */
export const imageObjectsRow = z.object({
  image_id: z.string(),
  object_key: z.string(),
  sha256: z.string(),
  thumbnails: z.array(z.string()).nullable(),
});
export type ImageObjectsRow = z.infer<typeof imageObjectsRow>;

/** Whether the image exists and is active (not deleted). */
export async function isImageActive(pool: Reader, imageId: string): Promise<boolean> {
  const row = await pool.maybeOne(sql.type(countRow)`
    select 1::int8 as n from write.aggregates
    where aggregate_type = 'image' and aggregate_id = ${imageId} and state->>'status' = 'active'`);
  return row !== null;
}

/** The tenant's active images after `afterImageId` in id order, at most `limit`, with their objects. */
export async function activeImageObjectsAfter(
  pool: Reader,
  tenantId: string,
  afterImageId: string,
  limit: number,
): Promise<readonly ImageObjectsRow[]> {
  return pool.any(sql.type(imageObjectsRow)`
    select aggregate_id as image_id, state->>'objectKey' as object_key, state->>'sha256' as sha256,
      array(select jsonb_array_elements_text(coalesce(state->'thumbnails', '[]'::jsonb))) as thumbnails
    from write.aggregates
    where aggregate_type = 'image' and tenant_id = ${tenantId} and state->>'status' = 'active'
      and aggregate_id > ${afterImageId}
    order by aggregate_id
    limit ${limit}`);
}

/** How many objects the tenant's active images have: one original each, plus their thumbnails. */
export async function activeImageObjectCount(pool: Reader, tenantId: string): Promise<number> {
  return pool.oneFirst(sql.type(countRow)`
    select coalesce(sum(1 + jsonb_array_length(coalesce(state->'thumbnails', '[]'::jsonb))), 0)::int8 as n
    from write.aggregates
    where aggregate_type = 'image' and tenant_id = ${tenantId} and state->>'status' = 'active'`);
}

const objectKeysRow = z.object({ object_key: z.string(), thumbnails: z.array(z.string()).nullable() });

/** The object keys of every image of the tenant, whatever its status: originals and thumbnails. */
export async function imageObjectKeys(
  pool: Reader,
  tenantId: string,
): Promise<readonly z.infer<typeof objectKeysRow>[]> {
  return pool.any(sql.type(objectKeysRow)`
    select state->>'objectKey' as object_key,
      array(select jsonb_array_elements_text(coalesce(state->'thumbnails', '[]'::jsonb))) as thumbnails
    from write.aggregates where aggregate_type = 'image' and tenant_id = ${tenantId}`);
}

/**
 * Whether the tenant still needs the bytes `sha256`: an active image has them, or an upload put
 * with `POST /v1/uploads` (intake) that has not expired waits to be registered with them.
 */
export async function bytesInUse(
  pool: Reader,
  tenantId: string,
  sha256: string,
  nowMs: number,
): Promise<boolean> {
  const n = await pool.oneFirst(sql.type(countRow)`
    select ((
      select count(*) from write.aggregates
      where aggregate_type = 'image' and tenant_id = ${tenantId} and state->>'sha256' = ${sha256}
        and state->>'status' = 'active'
    ) + (
      select count(*) from write.intake_uploads
      where tenant_id = ${tenantId} and sha256 = ${sha256} and registered_at is null
        and expires_at >= to_timestamp(${nowMs}::float8 / 1000)
    ))::int8 as n`);
  return n > 0;
}

/** The tenants whose storage move is still copying or verified (not finished, failed or cancelled). */
export async function tenantsWithUnfinishedStorageMove(pool: Reader): Promise<readonly string[]> {
  return pool.anyFirst(sql.type(z.object({ tenant_id: z.string() }))`
    select aggregate_id as tenant_id from write.aggregates
    where aggregate_type = 'tenant' and state->'storageMove'->>'status' in ('copying', 'verified')`);
}

const tenantStorageRow = z.object({
  storage: z.record(z.string(), z.unknown()).nullable(),
  moveSource: z.record(z.string(), z.unknown()).nullable(),
});

/**
 * The storage a tenant brought (`storage`) and the one a move of it started from (`moveSource`),
 * as kept in its aggregate; null for a tenant the write model does not have.
 */
export async function tenantStorageRecord(
  pool: Reader,
  tenantId: string,
): Promise<z.infer<typeof tenantStorageRow> | null> {
  return pool.maybeOne(sql.type(tenantStorageRow)`
    select state->'storage' as storage, state->'storageMove'->'from' as "moveSource"
    from write.aggregates where aggregate_type = 'tenant' and aggregate_id = ${tenantId}`);
}

const aggregateIdsRow = z.object({ aggregate_type: z.string(), aggregate_id: z.string() });

/** The tenant's API keys, users and images not yet revoked, disabled or deleted. */
export async function liveTenantAggregates(
  pool: Reader,
  tenantId: string,
): Promise<readonly z.infer<typeof aggregateIdsRow>[]> {
  return pool.any(sql.type(aggregateIdsRow)`
    select aggregate_type, aggregate_id from write.aggregates
    where tenant_id = ${tenantId} and aggregate_type in ('apiKey', 'user', 'image') and state->>'status' not in ('revoked', 'disabled', 'deleted')`);
}

/** The user holding the e-mail address (as reserved: lower case), if any. */
export async function userIdByEmail(pool: Reader, normalisedEmail: string): Promise<string | null> {
  return pool.maybeOneFirst(sql.type(z.object({ aggregate_id: z.string() }))`
    select aggregate_id from write.unique_reservations where kind = 'user_email' and value = ${normalisedEmail}`);
}

/** Whether the write model's tables exist yet (a read API may start before the write API made them). */
export async function writeModelExists(pool: Reader): Promise<boolean> {
  return pool.oneFirst(
    sql.type(z.object({ exists: z.boolean() }))`select to_regclass('write.aggregates') is not null as exists`,
  );
}

/** An embedding space: a model and a version of it. */
export type EmbeddingSpace = { modelId: string; modelVersion: string };

/**
 * A version of `space`'s model other than its own that some active image is embedded with while
 * not embedded in `space`, if any (one row, by index order).
 */
export async function otherEmbeddedModelVersion(
  pool: Reader,
  space: EmbeddingSpace,
): Promise<string | undefined> {
  const sameModel = JSON.stringify([{ modelId: space.modelId }]);
  const thisSpace = JSON.stringify([{ modelId: space.modelId, modelVersion: space.modelVersion }]);
  const found = await pool.maybeOne(sql.type(z.object({ modelVersion: z.string() }))`
    select e->>'modelVersion' as "modelVersion"
    from write.aggregates a, jsonb_array_elements(a.state->'embeddings') e
    where a.aggregate_type = 'image' and a.state->>'status' = 'active'
      and a.state->'embeddings' @> ${sameModel}::jsonb
      and not a.state->'embeddings' @> ${thisSpace}::jsonb
      and e->>'modelId' = ${space.modelId}
    limit 1`);
  return found?.modelVersion;
}

const spaceProgressRow = z.object({
  tenantId: z.string().nullable(),
  active: z.number(),
  embedded: z.number(),
});

/** Per tenant (in id order), its active images and how many of them are embedded in `space`. */
export async function activeImagesEmbeddedIn(
  pool: Reader,
  space: EmbeddingSpace,
): Promise<readonly z.infer<typeof spaceProgressRow>[]> {
  const thisSpace = JSON.stringify([{ modelId: space.modelId, modelVersion: space.modelVersion }]);
  return pool.any(sql.type(spaceProgressRow)`
    select tenant_id as "tenantId", count(*)::int as active,
      (count(*) filter (where state->'embeddings' @> ${thisSpace}::jsonb))::int as embedded
    from write.aggregates
    where aggregate_type = 'image' and state->>'status' = 'active'
    group by tenant_id
    order by tenant_id`);
}
