import { createHash } from 'node:crypto';
import { z } from 'zod';
import { sql } from '@deeplens/platform/database';
import type { Transaction } from './projection.ts';

/** The metadata projection's schemas: `platform` and one `tenant_<32 hex>` per tenant. */
export const metadataSchemaBase = /platform|tenant_[0-9a-f]{32}/;

/**
 * The schema of a tenant's images: `tenant_` and the tenant id's 32 hex digits (a UUID without
 * dashes), or of its SHA-256 for any other id, so the name is always a safe identifier.
 */
export function tenantSchemaBase(tenantId: string): string {
  const hex = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(tenantId)
    ? tenantId.replaceAll('-', '').toLowerCase()
    : createHash('sha256').update(tenantId).digest('hex').slice(0, 32);
  return `tenant_${hex}`;
}

/** A timestamptz from epoch milliseconds, exactly (no float rounding). */
export const fromEpochMs = (column: ReturnType<typeof sql.fragment>) =>
  sql.fragment`(timestamptz 'epoch' + ${column} * interval '1 millisecond')`;

const existsRow = z.object({ exists: z.boolean() });

/**
 * Whether a table exists, from the backend's catalog cache: a cheap first check, as `create … if
 * not exists` still takes locks. May answer an out-of-date "no" (see `mustCreateSchema`).
 */
export async function tableExists(tx: Transaction, schema: string, table: string): Promise<boolean> {
  return tx.oneFirst(sql.type(existsRow)`
    select to_regclass(${`"${schema}"."${table}"`}) is not null as exists`);
}

/**
 * Whether the caller must create `schema` (whose tables are all created in one transaction, the
 * last one being `table`). If so, it holds the schema's creation lock until its transaction
 * ends, so concurrent batches take turns.
 *
 * The check after the lock reads `pg_class`/`pg_namespace` with a snapshot taken after the lock,
 * NOT the catalog cache: waiting for an advisory lock does not make PostgreSQL absorb the catalog
 * invalidations of the transaction it waited for, so the "no such schema" that `tableExists`
 * cached before the wait survives it, and `create schema if not exists` would then fail with a
 * duplicate key on `pg_namespace_nspname_index` (an event recorded as poison and skipped).
 */
export async function mustCreateSchema(tx: Transaction, schema: string, table: string): Promise<boolean> {
  if (await tableExists(tx, schema, table)) return false;
  await tx.query(sql.typeAlias('void')`select from pg_advisory_xact_lock(hashtext(${schema}))`);
  const created = await tx.oneFirst(sql.type(existsRow)`
    select exists (
      select from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relname = ${table}) as exists`);
  return !created;
}

/** Creates a schema's tables if missing; concurrent batches take turns (`mustCreateSchema`). */
export async function ensurePlatformSchema(tx: Transaction, schema: string): Promise<void> {
  const s = (table: string) => sql.identifier([schema, table]);
  // `tenant_databases` is the last table: a schema from before it gets it on its next batch.
  if (!(await mustCreateSchema(tx, schema, 'tenant_databases'))) return;
  await tx.query(sql.typeAlias('void')`create schema if not exists ${sql.identifier([schema])}`);
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('tenants')} (
      tenant_id text primary key,
      slug text not null,
      name text not null,
      plan text not null,
      limits jsonb not null,
      status text not null check (status in ('active', 'suspended', 'deleted')),
      suspended_reason text,
      -- Bring-your-own storage; the secret is the write side's ciphertext, never plaintext.
      storage jsonb,
      version int not null,
      provisioned_at timestamptz not null,
      updated_at timestamptz not null,
      deleted_at timestamptz
    )`);
  await tx.query(sql.typeAlias('void')`
    create index if not exists tenants_slug on ${s('tenants')} (slug) where status <> 'deleted'`);
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('users')} (
      user_id text primary key,
      tenant_id text,
      email text not null,
      -- The hash the event carries (the auth layer verifies against it); never a password.
      password_hash text not null,
      role text not null,
      disabled boolean not null default false,
      disabled_reason text,
      version int not null,
      registered_at timestamptz not null,
      updated_at timestamptz not null
    )`);
  await tx.query(
    sql.typeAlias('void')`create index if not exists users_email on ${s('users')} (lower(email))`,
  );
  await tx.query(sql.typeAlias('void')`create index if not exists users_tenant on ${s('users')} (tenant_id)`);
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('api_keys')} (
      key_id text primary key,
      tenant_id text not null,
      name text not null,
      prefix text not null,
      -- SHA-256 of the secret; the secret itself is shown once by the write API and never stored.
      secret_hash text not null,
      scopes text[] not null,
      expires_at timestamptz,
      revoked_at timestamptz,
      revoked_reason text,
      version int not null,
      issued_at timestamptz not null,
      updated_at timestamptz not null
    )`);
  await tx.query(
    sql.typeAlias('void')`create unique index if not exists api_keys_prefix on ${s('api_keys')} (prefix)`,
  );
  await tx.query(
    sql.typeAlias('void')`create index if not exists api_keys_tenant on ${s('api_keys')} (tenant_id)`,
  );
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('tenant_databases')} (
      tenant_id text primary key,
      -- A configured server's name (never a URL) and the tenant's database of this generation.
      target text not null,
      database text not null
    )`);
}

/** Whether a tenant's schema has all its tables and the images' latest column. */
async function tenantSchemaCurrent(tx: Transaction, schema: string): Promise<boolean> {
  return tx.oneFirst(sql.type(existsRow)`
    select to_regclass(${`"${schema}"."image_embeddings"`}) is not null
      and to_regclass(${`"${schema}"."image_features"`}) is not null and exists (
      select from pg_catalog.pg_attribute
      where attrelid = to_regclass(${`"${schema}"."images"`}) and attname = 'perceptual_hash'
        and not attisdropped) as exists`);
}

export async function ensureTenantSchema(tx: Transaction, schema: string): Promise<void> {
  const s = (table: string) => sql.identifier([schema, table]);
  if (await tenantSchemaCurrent(tx, schema)) return;
  if (!(await mustCreateSchema(tx, schema, 'image_embeddings'))) {
    // A schema created before the images' perceptual hash (issue 15): add the column once;
    // concurrent batches take turns on the schema's lock and the second one skips.
    await tx.query(sql.typeAlias('void')`select from pg_advisory_xact_lock(hashtext(${schema}))`);
    await tx.query(
      sql.typeAlias('void')`alter table ${s('images')} add column if not exists perceptual_hash text`,
    );
    await createImageFeatures(tx, schema);
    return;
  }
  await tx.query(sql.typeAlias('void')`create schema if not exists ${sql.identifier([schema])}`);
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('images')} (
      image_id text primary key,
      -- The projection's own knowledge; 'indexed' is added at read time from vector_status.
      status text not null check (status in ('uploaded', 'embedded', 'failed', 'deleted')),
      object_key text not null,
      sha256 text not null,
      mime text not null,
      bytes bigint not null,
      width int not null,
      height int not null,
      filename text not null,
      tags text[] not null,
      attributes jsonb not null,
      source text not null,
      failure_reason text,
      failure_retriable boolean,
      failed_at timestamptz,
      thumbnail_key text,
      thumbnail_width int,
      thumbnail_height int,
      thumbnail_mime text,
      -- 64-bit DCT perceptual hash, 16 hex digits: search's second signal for near-duplicates.
      perceptual_hash text,
      -- The image aggregate's version: an event at or below it was applied already.
      version int not null,
      uploaded_at timestamptz not null,
      updated_at timestamptz not null,
      deleted_at timestamptz
    )`);
  await tx.query(sql.typeAlias('void')`
    create index if not exists images_listing on ${s('images')} (uploaded_at desc, image_id desc)
    where status <> 'deleted'`);
  await tx.query(sql.typeAlias('void')`
    create index if not exists images_tags on ${s('images')} using gin (tags) where status <> 'deleted'`);
  await tx.query(sql.typeAlias('void')`create index if not exists images_sha256 on ${s('images')} (sha256)`);
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${s('image_embeddings')} (
      image_id text not null,
      model_id text not null,
      model_version text not null,
      dim int not null,
      embedded_at timestamptz not null,
      primary key (image_id, model_id, model_version)
    )`);
  await createImageFeatures(tx, schema);
}

/**
 * Local features per image (ORB keypoints and descriptors, embedder/src/localFeatures.ts, about
 * 18 KiB): what search's geometric verification compares, read with the hits' rows. Its own
 * table so the images' rows stay small for listings and the projection's upserts.
 */
async function createImageFeatures(tx: Transaction, schema: string): Promise<void> {
  await tx.query(sql.typeAlias('void')`
    create table if not exists ${sql.identifier([schema, 'image_features'])} (
      image_id text primary key,
      features bytea not null
    )`);
}
