import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { readSchema } from './generationScope.ts';
import type { ImageFields } from '@deeplens/events/imageFields';
import {
  imageColumnList,
  imageColumns as imageColumnNames,
  imageFieldsOfRow,
  imageRowSchema,
  type ImageColumn,
} from './metadataProjection.ts';
import { tenantSchemaBase as activeTenantSchema } from './metadataSchema.ts';
import { isMissingDatabase, type TenantDatabase, type TenantDatabases } from './tenantDatabases.ts';

/**
 * The read side's queries over the metadata, usage and vector-status read models. Every
 * tenant-scoped function takes the tenant id first and reads only that tenant's schema, so
 * another tenant's image is simply not found. Names are the active generation's (the plain
 * schema names); a rebuild's switch renames schemas in one transaction, so a query sees
 * either the old or the new read model, never a mix. Inside `withGenerations` (a platform
 * admin reading a point-in-time snapshot) the selected generation's schemas are read instead;
 * sign-in lookups (API keys, users) always read the active one.
 *
 * An enterprise tenant on a dedicated database (`platform.tenant_databases` of the generation
 * read) has its images read from that database's pool, under the same schema name; the
 * vector status stays in the shared database and is read from there in a second query.
 */

/** The tenant's schema this read looks at (the active one, or a selected snapshot's). */
const tenantSchemaBase = (tenantId: string) => readSchema(activeTenantSchema(tenantId), 'metadata');
const vectorStatus = (table: string) => sql.identifier([readSchema('vector_status', 'vectors'), table]);

export type ImageStatus = 'uploaded' | 'embedded' | 'indexed' | 'failed';

export type ImageEmbedding = {
  modelId: string;
  modelVersion: string;
  dim: number;
  embeddedAt: number;
  /** When the vector projection applied it (searchable from then on); null until then. */
  indexedAt: number | null;
};

/** The image's fields (`imageFields`), and what the read side knows of it since. */
export type ImageView = ImageFields & {
  tenantId: string;
  imageId: string;
  status: ImageStatus;
  failure: { reason: string; retriable: boolean; at: number } | null;
  thumbnail: { objectKey: string; width: number; height: number; mime: string } | null;
  /** 64-bit DCT perceptual hash (16 hex digits), once an embedder computed it. */
  perceptualHash: string | null;
  embeddings: ImageEmbedding[];
  version: number;
  uploadedAt: number;
  updatedAt: number;
};

export type TenantView = {
  tenantId: string;
  slug: string;
  name: string;
  plan: string;
  limits: { maxImages: number; maxBytes: number; maxImageBytes: number; requestsPerMinute: number };
  status: 'active' | 'suspended';
  suspendedReason: string | null;
  storage: Record<string, string | null> | null;
  provisionedAt: number;
  updatedAt: number;
};

export type ApiKeyView = {
  keyId: string;
  tenantId: string;
  name: string;
  prefix: string;
  /** SHA-256 hex of the secret: compare with a constant-time equality. */
  secretHash: string;
  scopes: string[];
  expiresAt: number | null;
  revokedAt: number | null;
  issuedAt: number;
};

export type UserView = {
  userId: string;
  tenantId: string | null;
  email: string;
  passwordHash: string;
  role: string;
  disabled: boolean;
};

export type TenantUsageView = { tenantId: string; images: number; bytes: number; updatedAt: number | null };

export type ListImagesOptions = {
  /** The opaque `nextCursor` of the previous page. */
  cursor?: string;
  /** 1–500; default 50. */
  limit?: number;
  tag?: string;
  status?: ImageStatus;
};

export type ImagePage = { items: ImageView[]; nextCursor: string | null };

// The stored row, with the status the queries compute (`indexed` comes from the vector status).
const imageRow = imageRowSchema.omit({ deleted_at: true }).extend({ status: z.string() });
type ImageRowRead = z.infer<typeof imageRow>;

const embeddingRow = z.object({
  image_id: z.string(),
  model_id: z.string(),
  model_version: z.string(),
  dim: z.number(),
  embedded_at: z.number(),
  indexed_at: z.number().nullable(),
});

const tenantRow = z.object({
  tenant_id: z.string(),
  slug: z.string(),
  name: z.string(),
  plan: z.string(),
  limits: z.object({
    maxImages: z.number(),
    maxBytes: z.number(),
    maxImageBytes: z.number(),
    requestsPerMinute: z.number(),
  }),
  status: z.enum(['active', 'suspended']),
  suspended_reason: z.string().nullable(),
  // TenantStorageConfigured as recorded: `credential` and `path` are null on S3 storage.
  storage: z.record(z.string(), z.string().nullable()).nullable(),
  provisioned_at: z.number(),
  updated_at: z.number(),
});

const apiKeyRow = z.object({
  key_id: z.string(),
  tenant_id: z.string(),
  name: z.string(),
  prefix: z.string(),
  secret_hash: z.string(),
  scopes: z.array(z.string()),
  expires_at: z.number().nullable(),
  revoked_at: z.number().nullable(),
  issued_at: z.number(),
});

const userRow = z.object({
  user_id: z.string(),
  tenant_id: z.string().nullable(),
  email: z.string(),
  password_hash: z.string(),
  role: z.string(),
  disabled: z.boolean(),
});

const usageRow = z.object({ images: z.number(), bytes: z.number(), updated_at: z.number() });
const existsRow = z.object({ exists: z.boolean() });
const imageColumns = imageColumnList(
  imageColumnNames.filter((c) => c !== 'deleted_at'),
  'i',
);

/** PostgreSQL's answer when a schema or table does not exist (an unknown or erased tenant). */
function isMissingRelation(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (code === '42P01' || code === '3F000') return true;
  }
  return false;
}

function encodeCursor(row: { uploaded_at: number; image_id: string }): string {
  return Buffer.from(JSON.stringify([row.uploaded_at, row.image_id])).toString('base64url');
}

function decodeCursor(cursor: string): { uploadedAt: number; imageId: string } {
  const parsed = z
    .tuple([z.number(), z.string()])
    .safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8') || 'null'));
  if (!parsed.success) throw new Error('invalid cursor');
  return { uploadedAt: parsed.data[0], imageId: parsed.data[1] };
}

const tenantDatabaseRow = z.object({ target: z.string(), database: z.string() });
const indexedRow = z.object({
  image_id: z.string(),
  model_id: z.string(),
  model_version: z.string(),
  indexed_at: z.number().nullable(),
});

/** Where a tenant's images are read: a pool and a schema, and its dedicated database if any. */
type TenantLocation = {
  db: DatabasePool;
  schema: string;
  dedicated: TenantDatabase | undefined;
  /** A dedicated database that does not exist (erased, or lost until the projector heals it). */
  gone?: true;
};

export type MetadataQueriesOptions = {
  /** Pools of enterprise tenants' dedicated databases (`tenantDatabases.ts`). */
  tenantDatabases?: TenantDatabases;
};

export function createMetadataQueries(pool: DatabasePool, options: MetadataQueriesOptions = {}) {
  const databases = options.tenantDatabases;
  /** Tenants (with the platform schema read) last located in a dedicated database. */
  const locatedDedicated = new Set<string>();

  async function locate(tenantId: string): Promise<TenantLocation> {
    let row: TenantDatabase | null = null;
    try {
      row = await pool.maybeOne(sql.type(tenantDatabaseRow)`
        select target, database from ${sql.identifier([readSchema('platform', 'metadata'), 'tenant_databases'])}
        where tenant_id = ${tenantId}`);
    } catch (error) {
      // A read model from before dedicated databases: every tenant is shared.
      if (!isMissingRelation(error)) throw error;
    }
    if (!row) return { db: pool, schema: tenantSchemaBase(tenantId), dedicated: undefined };
    if (!databases) throw new Error('this reader has no dedicated tenant databases configured');
    const schema = activeTenantSchema(tenantId);
    try {
      return { db: await databases.pool(row), schema, dedicated: row };
    } catch (error) {
      if (!isMissingDatabase(error)) throw error;
      await databases.forget(row);
      return { db: pool, schema, dedicated: row, gone: true };
    }
  }

  /** A dedicated database that is gone (erased, lost) reads as no images; its pool is closed. */
  async function isGone(location: TenantLocation, error: unknown): Promise<boolean> {
    if (isMissingRelation(error)) return true;
    if (!location.dedicated || !isMissingDatabase(error)) return false;
    await databases?.forget(location.dedicated);
    return true;
  }

  async function vectorStatusExists(): Promise<boolean> {
    return pool.oneFirst(sql.type(existsRow)`
      select to_regclass(${`"${readSchema('vector_status', 'vectors')}".image_vectors`}) is not null as exists`);
  }

  async function embeddingsOf(
    tenantId: string,
    location: TenantLocation,
    imageIds: string[],
  ): Promise<Map<string, ImageEmbedding[]>> {
    const { db, schema } = location;
    const hasStatus = await vectorStatusExists();
    // In the shared database one query joins the vector status; a dedicated one cannot reach it.
    const indexed =
      hasStatus && !location.dedicated
        ? sql.fragment`(select v.indexed_at from ${vectorStatus('image_vectors')} v
          where v.tenant_id = ${tenantId} and v.image_id = e.image_id
            and v.model_id = e.model_id and v.model_version = e.model_version)`
        : sql.fragment`null::timestamptz`;
    let rows = await db.any(sql.type(embeddingRow)`
      select e.image_id, e.model_id, e.model_version, e.dim, e.embedded_at, ${indexed} as indexed_at
      from ${sql.identifier([schema, 'image_embeddings'])} e
      where e.image_id = any(${sql.array(imageIds, 'text')})
      order by e.image_id, e.embedded_at, e.model_id, e.model_version`);
    if (hasStatus && location.dedicated && rows.length > 0) {
      const status = await pool.any(sql.type(indexedRow)`
        select v.image_id, v.model_id, v.model_version, v.indexed_at from ${vectorStatus('image_vectors')} v
        where v.tenant_id = ${tenantId} and v.image_id = any(${sql.array(imageIds, 'text')})`);
      const at = new Map(
        status.map((s) => [`${s.image_id}\n${s.model_id}\n${s.model_version}`, s.indexed_at]),
      );
      rows = rows.map((r) => ({
        ...r,
        indexed_at: at.get(`${r.image_id}\n${r.model_id}\n${r.model_version}`) ?? null,
      }));
    }
    const out = new Map<string, ImageEmbedding[]>();
    for (const r of rows) {
      const list = out.get(r.image_id) ?? [];
      list.push({
        modelId: r.model_id,
        modelVersion: r.model_version,
        dim: r.dim,
        embeddedAt: r.embedded_at,
        indexedAt: r.indexed_at,
      });
      out.set(r.image_id, list);
    }
    return out;
  }

  function toView(tenantId: string, r: ImageRowRead, embeddings: ImageEmbedding[]): ImageView {
    const status: ImageStatus = embeddings.some((e) => e.indexedAt !== null)
      ? 'indexed'
      : r.status === 'embedded' || embeddings.length > 0
        ? 'embedded'
        : r.status === 'failed'
          ? 'failed'
          : 'uploaded';
    return {
      tenantId,
      imageId: r.image_id,
      status,
      failure:
        r.failure_reason === null
          ? null
          : {
              reason: r.failure_reason,
              retriable: r.failure_retriable ?? false,
              at: r.failed_at ?? r.updated_at,
            },
      ...imageFieldsOfRow(r),
      thumbnail:
        r.thumbnail_key === null
          ? null
          : {
              objectKey: r.thumbnail_key,
              width: r.thumbnail_width ?? 0,
              height: r.thumbnail_height ?? 0,
              mime: r.thumbnail_mime ?? 'image/webp',
            },
      perceptualHash: r.perceptual_hash,
      embeddings,
      version: r.version,
      uploadedAt: r.uploaded_at,
      updatedAt: r.updated_at,
    };
  }

  return {
    /** Closes the dedicated databases' pools (the shared pool is the caller's). */
    async close(): Promise<void> {
      await databases?.close();
    },

    /** One image of the tenant, or undefined (unknown, deleted, or another tenant's). */
    async getImage(tenantId: string, imageId: string): Promise<ImageView | undefined> {
      const location = await locate(tenantId);
      if (location.gone) return undefined;
      try {
        const row = await location.db.maybeOne(sql.type(imageRow)`
          select ${imageColumns} from ${sql.identifier([location.schema, 'images'])} i
          where i.image_id = ${imageId} and i.status <> 'deleted'`);
        if (!row) return undefined;
        return toView(tenantId, row, (await embeddingsOf(tenantId, location, [imageId])).get(imageId) ?? []);
      } catch (error) {
        if (await isGone(location, error)) return undefined;
        throw error;
      }
    },

    /**
     * What search shows of its hits, in ONE query: the rows of those of `imageIds` that exist
     * (unknown, deleted or another tenant's are left out), with the local features of those in
     * `featuresOf` (null when the image has none, or its schema predates them).
     */
    async getSearchHits(
      tenantId: string,
      imageIds: readonly string[],
      featuresOf: readonly string[] = [],
    ): Promise<Map<string, SearchHitRow>> {
      const select = (schema: string, withFeatures: boolean, sharedOnly: boolean) => sql.type(searchHitRow)`
          select ${searchHitSelect},
            i.thumbnail_key is not null as has_thumbnail, ${
              withFeatures
                ? sql.fragment`(select f.features from ${sql.identifier([schema, 'image_features'])} f
                    where f.image_id = i.image_id and f.image_id = any(${sql.array([...featuresOf], 'text')}))`
                : sql.fragment`null::bytea`
            } as features
          from ${sql.identifier([schema, 'images'])} i
          where i.image_id = any(${sql.array([...imageIds], 'text')}) and i.status <> 'deleted'${
            sharedOnly
              ? sql.fragment` and not exists (select from ${sql.identifier([
                  readSchema('platform', 'metadata'),
                  'tenant_databases',
                ])} d where d.tenant_id = ${tenantId})`
              : sql.fragment``
          }`;
      // Most tenants are read from the shared database: the hits are read there at once, in the
      // same statement (so the same snapshot) that checks the tenant has no dedicated database —
      // what `locate` would answer — so a search makes one round trip, and a tenant that moved
      // is never read from where it was. Nothing found (a dedicated tenant, no such rows, a
      // schema missing or from before the features table) takes the located path below.
      const hintKey = `${readSchema('platform', 'metadata')}\n${tenantId}`;
      if (!locatedDedicated.has(hintKey)) {
        try {
          const rows = await pool.any(select(tenantSchemaBase(tenantId), featuresOf.length > 0, true));
          if (rows.length > 0) return new Map(rows.map((r) => [r.image_id, r]));
        } catch (error) {
          if (!isMissingRelation(error)) throw error;
        }
      }
      const location = await locate(tenantId);
      // Only a hint to skip the attempt above: a dedicated tenant is always located afresh.
      if (location.dedicated) {
        if (locatedDedicated.size >= 10_000) locatedDedicated.clear();
        locatedDedicated.add(hintKey);
      } else locatedDedicated.delete(hintKey);
      if (location.gone) return new Map();
      const read = (withFeatures: boolean) => location.db.any(select(location.schema, withFeatures, false));
      let rows;
      try {
        rows = await read(featuresOf.length > 0);
      } catch (error) {
        if (!(await isGone(location, error))) throw error;
        // No such tenant, or a schema from before the features table (added on its next batch).
        rows = await read(false).catch(async (again: unknown) => {
          if (await isGone(location, again)) return [];
          throw again;
        });
      }
      return new Map(rows.map((r) => [r.image_id, r]));
    },

    /** The tenant's images, newest first, `limit` at a time (keyset pagination). */
    async listImages(tenantId: string, options: ListImagesOptions = {}): Promise<ImagePage> {
      const limit = Math.min(500, Math.max(1, options.limit ?? 50));
      const location = await locate(tenantId);
      if (location.gone) return { items: [], nextCursor: null };
      const { schema } = location;
      const conditions = [sql.fragment`i.status <> 'deleted'`];
      if (options.cursor) {
        const c = decodeCursor(options.cursor);
        conditions.push(
          sql.fragment`(i.uploaded_at, i.image_id) < (timestamptz 'epoch' + ${c.uploadedAt}::bigint * interval '1 millisecond', ${c.imageId})`,
        );
      }
      if (options.tag !== undefined) conditions.push(sql.fragment`i.tags @> array[${options.tag}]::text[]`);
      if (options.status !== undefined) {
        const hasStatus = await vectorStatusExists();
        // A dedicated database cannot join the shared vector status: it gets the tenant's
        // indexed ids as a parameter instead (one read of them per filtered page).
        const indexed = !hasStatus
          ? sql.fragment`false`
          : location.dedicated
            ? sql.fragment`i.image_id = any(${sql.array(
                await pool.anyFirst(sql.type(z.object({ image_id: z.string() }))`
                  select distinct image_id from ${vectorStatus('image_vectors')} where tenant_id = ${tenantId}`),
                'text',
              )})`
            : sql.fragment`exists (select 1 from ${vectorStatus('image_vectors')} v
              where v.tenant_id = ${tenantId} and v.image_id = i.image_id)`;
        const embedded = sql.fragment`exists (select 1 from ${sql.identifier([schema, 'image_embeddings'])} e
          where e.image_id = i.image_id)`;
        conditions.push(
          options.status === 'indexed'
            ? indexed
            : options.status === 'embedded'
              ? sql.fragment`${embedded} and not ${indexed}`
              : options.status === 'failed'
                ? sql.fragment`i.status = 'failed' and not ${embedded}`
                : sql.fragment`i.status = 'uploaded' and not ${embedded}`,
        );
      }
      try {
        const rows = await location.db.any(sql.type(imageRow)`
          select ${imageColumns} from ${sql.identifier([schema, 'images'])} i
          where ${sql.join(conditions, sql.fragment` and `)}
          order by i.uploaded_at desc, i.image_id desc
          limit ${limit + 1}`);
        const page = rows.slice(0, limit);
        const embeddings = await embeddingsOf(
          tenantId,
          location,
          page.map((r) => r.image_id),
        );
        return {
          items: page.map((r) => toView(tenantId, r, embeddings.get(r.image_id) ?? [])),
          nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!) : null,
        };
      } catch (error) {
        if (await isGone(location, error)) return { items: [], nextCursor: null };
        throw error;
      }
    },

    /** The tenant, unless unknown or erased. */
    async getTenant(tenantId: string): Promise<TenantView | undefined> {
      try {
        const r = await pool.maybeOne(sql.type(tenantRow)`
          select tenant_id, slug, name, plan, limits, status, suspended_reason, storage, provisioned_at, updated_at
          from ${sql.identifier([readSchema('platform', 'metadata'), 'tenants'])} where tenant_id = ${tenantId} and status <> 'deleted'`);
        return r
          ? {
              tenantId: r.tenant_id,
              slug: r.slug,
              name: r.name,
              plan: r.plan,
              limits: r.limits,
              status: r.status,
              suspendedReason: r.suspended_reason,
              storage: r.storage,
              provisionedAt: r.provisioned_at,
              updatedAt: r.updated_at,
            }
          : undefined;
      } catch (error) {
        if (isMissingRelation(error)) return undefined;
        throw error;
      }
    },

    /**
     * Images and bytes stored by the tenant as the read side has projected them (the write side
     * keeps the exact, limit-enforcing figures in `write.usage_stripes`). Undefined for an
     * unknown or erased tenant.
     */
    async getUsage(tenantId: string): Promise<TenantUsageView | undefined> {
      try {
        const known = await pool.oneFirst(sql.type(existsRow)`
          select exists (select 1 from ${sql.identifier([readSchema('platform', 'metadata'), 'tenants'])}
            where tenant_id = ${tenantId} and status <> 'deleted') as exists`);
        if (!known) return undefined;
        const row = await pool.maybeOne(sql.type(usageRow)`
          select images, bytes, updated_at from ${sql.identifier([readSchema('usage', 'usage'), 'tenant_usage'])}
          where tenant_id = ${tenantId}`);
        return {
          tenantId,
          images: row?.images ?? 0,
          bytes: row?.bytes ?? 0,
          updatedAt: row?.updated_at ?? null,
        };
      } catch (error) {
        if (isMissingRelation(error)) return undefined;
        throw error;
      }
    },

    /** The tenant's API keys (revoked ones too), for listings. */
    async listApiKeys(tenantId: string): Promise<ApiKeyView[]> {
      try {
        const rows = await pool.any(sql.type(apiKeyRow)`
          select key_id, tenant_id, name, prefix, secret_hash, scopes, expires_at, revoked_at, issued_at
          from platform.api_keys where tenant_id = ${tenantId} order by issued_at, key_id`);
        return rows.map(toApiKey);
      } catch (error) {
        if (isMissingRelation(error)) return [];
        throw error;
      }
    },

    /**
     * The key an API key's 8-character prefix names, for authentication (which then checks the
     * secret's hash, expiry, revocation and the tenant's status).
     */
    async findApiKeyByPrefix(prefix: string): Promise<ApiKeyView | undefined> {
      try {
        const row = await pool.maybeOne(sql.type(apiKeyRow)`
          select key_id, tenant_id, name, prefix, secret_hash, scopes, expires_at, revoked_at, issued_at
          from platform.api_keys where prefix = ${prefix}`);
        return row ? toApiKey(row) : undefined;
      } catch (error) {
        if (isMissingRelation(error)) return undefined;
        throw error;
      }
    },

    /** A user by sign-in e-mail (case-insensitive), for password authentication. */
    async findUserByEmail(email: string): Promise<UserView | undefined> {
      try {
        const row = await pool.maybeOne(sql.type(userRow)`
          select user_id, tenant_id, email, password_hash, role, disabled
          from platform.users where lower(email) = lower(${email})`);
        return row
          ? {
              userId: row.user_id,
              tenantId: row.tenant_id,
              email: row.email,
              passwordHash: row.password_hash,
              role: row.role,
              disabled: row.disabled,
            }
          : undefined;
      } catch (error) {
        if (isMissingRelation(error)) return undefined;
        throw error;
      }
    },
  };
}

function toApiKey(r: z.infer<typeof apiKeyRow>): ApiKeyView {
  return {
    keyId: r.key_id,
    tenantId: r.tenant_id,
    name: r.name,
    prefix: r.prefix,
    secretHash: r.secret_hash,
    scopes: r.scopes,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    issuedAt: r.issued_at,
  };
}

export type MetadataQueries = ReturnType<typeof createMetadataQueries>;

/** The columns of the image row a search hit shows. */
const searchHitColumns = imageRowSchema.pick({
  image_id: true,
  filename: true,
  tags: true,
  attributes: true,
  perceptual_hash: true,
});

const searchHitSelect = imageColumnList(Object.keys(searchHitColumns.shape) as ImageColumn[], 'i');

const searchHitRow = searchHitColumns.extend({
  has_thumbnail: z.boolean(),
  /** The blob of embedder/src/localFeatures.ts. */
  features: z.instanceof(Buffer).nullable(),
});

/** An image as a search hit shows it (`getSearchHits`). */
export type SearchHitRow = z.infer<typeof searchHitRow>;
