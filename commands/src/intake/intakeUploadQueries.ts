/**
 * The write model's record of intake uploads (`write.intake_uploads`, migration
 * `commands/migrations/003_intake.sql`): bytes put for an integration (`POST /v1/uploads`, or a
 * presigned PUT), waiting until an intake record registers them or they expire. Times are epoch
 * milliseconds from the caller's clock.
 */
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';

type Queryable = Pick<DatabasePool, 'query' | 'any' | 'maybeOne'>;

/** What an upload is said to hold: checked bytes, or (presigned, not yet put) what was announced. */
export type UploadRecord = {
  tenantId: string;
  objectKey: string;
  sha256: string;
  mime: string;
  bytes: number;
  width: number;
  height: number;
  expiresAt: number;
};

/** Records an upload; one recorded before under the same key waits until the new `expiresAt`. */
export async function recordUpload(db: Queryable, upload: UploadRecord): Promise<void> {
  await db.query(sql.typeAlias('void')`
    insert into write.intake_uploads (tenant_id, object_key, sha256, mime, bytes, width, height, expires_at)
    values (${upload.tenantId}, ${upload.objectKey}, ${upload.sha256}, ${upload.mime}, ${upload.bytes},
      ${upload.width}, ${upload.height}, to_timestamp(${upload.expiresAt}::float8 / 1000))
    on conflict (tenant_id, object_key) do update set expires_at = excluded.expires_at`);
}

const standingRow = z.object({ expired: z.boolean(), registered: z.boolean() });

/** Whether the tenant's upload under `objectKey` has expired by `nowMs` and been registered; null when there is none. */
export async function uploadStanding(
  db: Queryable,
  tenantId: string,
  objectKey: string,
  nowMs: number,
): Promise<z.infer<typeof standingRow> | null> {
  return db.maybeOne(sql.type(standingRow)`
    select expires_at < to_timestamp(${nowMs}::float8 / 1000) as expired, registered_at is not null as registered
    from write.intake_uploads where tenant_id = ${tenantId} and object_key = ${objectKey}`);
}

/** The upload was registered: it no longer expires. */
export async function markUploadRegistered(
  db: Queryable,
  tenantId: string,
  objectKey: string,
): Promise<void> {
  await db.query(sql.typeAlias('void')`
    update write.intake_uploads set registered_at = now()
    where tenant_id = ${tenantId} and object_key = ${objectKey} and registered_at is null`);
}

const expiredRow = z.object({ tenant_id: z.string(), object_key: z.string(), sha256: z.string() });

/** Uploads never registered whose time ran out by `nowMs`, the longest expired first, at most `limit`. */
export async function expiredUnregisteredUploads(
  db: Queryable,
  nowMs: number,
  limit: number,
): Promise<readonly z.infer<typeof expiredRow>[]> {
  return db.any(sql.type(expiredRow)`
    select tenant_id, object_key, sha256 from write.intake_uploads
    where registered_at is null and expires_at < to_timestamp(${nowMs}::float8 / 1000)
    order by expires_at limit ${limit}`);
}

/** Forgets an upload, unless it was registered meanwhile. */
export async function deleteUnregisteredUpload(
  db: Queryable,
  tenantId: string,
  objectKey: string,
): Promise<void> {
  await db.query(sql.typeAlias('void')`
    delete from write.intake_uploads
    where tenant_id = ${tenantId} and object_key = ${objectKey} and registered_at is null`);
}
