import { z } from 'zod';
import { assertNever } from '@deeplens/events/assertNever';
import type { DeepLensEventType } from '@deeplens/events/domainEvent';
import type { IdentityEvent } from '@deeplens/events/identityEvents';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import { imageFieldNames, imageFields, type ImageFields } from '@deeplens/events/imageFields';
import { erasedEmail, erasedName } from '@deeplens/events/personalData';
import type { TenantEvent } from '@deeplens/events/tenantEvents';
import { sql } from '@deeplens/platform/database';
import {
  ensurePlatformSchema,
  ensureTenantSchema,
  fromEpochMs,
  metadataSchemaBase,
  tableExists,
  tenantSchemaBase,
} from './metadataSchema.ts';
import {
  dropGenerationSchemas,
  lockTenants,
  postgresProjection,
  renameSchemasForSwitch,
  type GenerationContext,
} from './postgresProjection.ts';
import type { ProjectionDefinition, RecordedEvent, Transaction } from './projection.ts';
import { checkpointKey } from './projection.ts';
import { ensureDedicatedCheckpoints, type TenantDatabase, type TenantDatabases } from './tenantDatabases.ts';

export const metadataProjectionName = 'metadata';

const tenantEventTypes = [
  'TenantProvisioned',
  'TenantPlanChanged',
  'TenantStorageConfigured',
  'TenantSuspended',
  'TenantReactivated',
  'TenantDeleted',
  'StorageMoveStarted',
] as const satisfies readonly TenantEvent['type'][];
const identityEventTypes = [
  'UserRegistered',
  'UserRoleChanged',
  'UserDisabled',
  'UserErased',
  'ApiKeyIssued',
  'ApiKeyRevoked',
] as const satisfies readonly IdentityEvent['type'][];
const imageEventTypes = [
  'ImageUploaded',
  'ImageEmbedded',
  'ImageEmbeddingFailed',
  'ThumbnailGenerated',
  'ImageMetadataUpdated',
  'ImageDeleted',
] as const satisfies readonly ImageEvent['type'][];

const canHandle: readonly DeepLensEventType[] = [
  ...tenantEventTypes,
  ...identityEventTypes,
  ...imageEventTypes,
];

/** `objectKey` → `object_key`: a field's column name. */
type ColumnName<Field extends string> = Field extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${ColumnName<Tail>}`
  : Field;
type ColumnNamed<Fields> = { [F in keyof Fields & string as ColumnName<F>]: Fields[F] };

const columnName = <Field extends string>(field: Field) =>
  field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) as ColumnName<Field>;

const columnNamed = <Fields extends object>(fields: Fields) =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [columnName(k), v])) as ColumnNamed<Fields>;

/**
 * An image row as stored (timestamps in epoch ms): the image's fields, and what the projection
 * learns after the upload. Its keys, in order, are the table's columns every query reads and
 * the upsert writes (the metadata queries read the same columns).
 */
export const imageRowSchema = z.object({
  image_id: z.string(),
  status: z.enum(['uploaded', 'embedded', 'failed', 'deleted']),
  // An image's fields (`imageFields`), as columns.
  ...columnNamed(imageFields.shape),
  failure_reason: z.string().nullable(),
  failure_retriable: z.boolean().nullable(),
  failed_at: z.number().nullable(),
  thumbnail_key: z.string().nullable(),
  thumbnail_width: z.number().nullable(),
  thumbnail_height: z.number().nullable(),
  thumbnail_mime: z.string().nullable(),
  /** The 64-bit perceptual hash (16 hex digits) of the image's last embedding that carried one. */
  perceptual_hash: z.string().nullable(),
  version: z.number(),
  uploaded_at: z.number(),
  updated_at: z.number(),
  deleted_at: z.number().nullable(),
});

/** An image row as the projection keeps it (timestamps in epoch ms). */
export type ImageRow = z.infer<typeof imageRowSchema>;

/** A column of `images`. */
export type ImageColumn = keyof ImageRow;

/** The columns of `images`, in the order of `imageRowSchema`. */
export const imageColumns = Object.keys(imageRowSchema.shape) as ImageColumn[];

/**
 * How the upsert carries each column through `jsonb_to_recordset`: a plain SQL type, epoch ms
 * stored as timestamptz, or a JSON array stored as text[]. A field added to `imageFields` fails
 * to compile until it is given one here (and a column in `metadataSchema.ts`).
 */
const imageColumnTransport = {
  image_id: 'text',
  status: 'text',
  object_key: 'text',
  sha256: 'text',
  mime: 'text',
  bytes: 'bigint',
  width: 'int',
  height: 'int',
  filename: 'text',
  tags: 'textArray',
  attributes: 'jsonb',
  source: 'text',
  failure_reason: 'text',
  failure_retriable: 'boolean',
  failed_at: 'epochMs',
  thumbnail_key: 'text',
  thumbnail_width: 'int',
  thumbnail_height: 'int',
  thumbnail_mime: 'text',
  perceptual_hash: 'text',
  version: 'int',
  uploaded_at: 'epochMs',
  updated_at: 'epochMs',
  deleted_at: 'epochMs',
} as const satisfies Record<
  ImageColumn,
  'text' | 'int' | 'bigint' | 'boolean' | 'jsonb' | 'epochMs' | 'textArray'
>;

const recordsetTypes = {
  text: sql.fragment`text`,
  int: sql.fragment`int`,
  bigint: sql.fragment`bigint`,
  boolean: sql.fragment`boolean`,
  jsonb: sql.fragment`jsonb`,
  epochMs: sql.fragment`bigint`,
  textArray: sql.fragment`jsonb`,
};

const comma = sql.fragment`, `;

/** `image_id, status, …` (or `i.image_id, i.status, …` with `alias`): the listed columns. */
export function imageColumnList(columns: readonly ImageColumn[] = imageColumns, alias?: string) {
  return sql.join(
    columns.map((c) => sql.identifier(alias === undefined ? [c] : [alias, c])),
    comma,
  );
}

const upsertColumns = imageColumnList();
const upsertValues = sql.join(
  imageColumns.map((c) => {
    const value = sql.identifier(['x', c]);
    const transport = imageColumnTransport[c];
    if (transport === 'epochMs') return fromEpochMs(sql.fragment`${value}`);
    if (transport === 'textArray') return sql.fragment`array(select jsonb_array_elements_text(${value}))`;
    return sql.fragment`${value}`;
  }),
  comma,
);
const upsertRecordset = sql.join(
  imageColumns.map((c) => sql.fragment`${sql.identifier([c])} ${recordsetTypes[imageColumnTransport[c]]}`),
  comma,
);
const upsertUpdates = sql.join(
  imageColumns
    .filter((c) => c !== 'image_id')
    .map((c) => sql.fragment`${sql.identifier([c])} = excluded.${sql.identifier([c])}`),
  comma,
);

// Each field with its column, named once: the mappings below run per event and per row read.
const imageFieldColumnNames = imageFieldNames.map((name) => [name, columnName(name)] as const);

/** The image's fields as the row's columns (exactly those, whatever else `fields` carries). */
function imageFieldColumnsOf(fields: ImageFields): ColumnNamed<ImageFields> {
  const columns: Record<string, unknown> = {};
  for (const [name, column] of imageFieldColumnNames) columns[column] = fields[name];
  return columns as ColumnNamed<ImageFields>;
}

/** The image's fields of a row (the inverse of `imageFieldColumnsOf`). */
export function imageFieldsOfRow(row: ColumnNamed<ImageFields>): ImageFields {
  const fields: Record<string, unknown> = {};
  for (const [name, column] of imageFieldColumnNames) fields[name] = row[column];
  return fields as ImageFields;
}

type EmbeddingRow = {
  image_id: string;
  model_id: string;
  model_version: string;
  dim: number;
  embedded_at: number;
};

const tenantIdRow = z.object({ tenant_id: z.string() });

/**
 * One image's next row after an event (pure): `undefined` when the event says nothing the row
 * does not already know (already applied, or about an image never uploaded).
 */
export function evolveImageRow(row: ImageRow | undefined, event: ImageEvent): ImageRow | undefined {
  const { aggregateVersion: version, occurredAt: at } = event.metadata;
  if (event.type === 'ImageUploaded') {
    if (row) return undefined;
    const d = event.data;
    return {
      image_id: d.imageId,
      status: 'uploaded',
      ...imageFieldColumnsOf(d),
      tags: [...d.tags],
      attributes: { ...d.attributes },
      failure_reason: null,
      failure_retriable: null,
      failed_at: null,
      thumbnail_key: null,
      thumbnail_width: null,
      thumbnail_height: null,
      thumbnail_mime: null,
      perceptual_hash: null,
      version,
      uploaded_at: at,
      updated_at: at,
      deleted_at: null,
    };
  }
  if (!row || version <= row.version || row.status === 'deleted') return undefined;
  const next = { ...row, version, updated_at: at };
  switch (event.type) {
    case 'ImageEmbedded':
      return {
        ...next,
        status: 'embedded',
        perceptual_hash: event.data.perceptualHash ?? row.perceptual_hash,
      };
    case 'ImageEmbeddingFailed':
      return {
        ...next,
        status: row.status === 'embedded' ? 'embedded' : 'failed',
        failure_reason: event.data.reason,
        failure_retriable: event.data.retriable,
        failed_at: at,
      };
    case 'ThumbnailGenerated':
      return {
        ...next,
        thumbnail_key: event.data.objectKey,
        thumbnail_width: event.data.width,
        thumbnail_height: event.data.height,
        thumbnail_mime: event.data.mime,
      };
    case 'ImageMetadataUpdated':
      return { ...next, tags: [...event.data.tags], attributes: { ...event.data.attributes } };
    case 'ImageDeleted':
      return { ...next, status: 'deleted', deleted_at: at };
    default:
      return assertNever(event, 'image event');
  }
}

async function deletedTenants(tx: Transaction, platform: string, tenantIds: string[]): Promise<Set<string>> {
  if (tenantIds.length === 0) return new Set();
  const rows = await tx.any(sql.type(tenantIdRow)`
    select tenant_id from ${sql.identifier([platform, 'tenants'])}
    where status = 'deleted' and tenant_id = any(${sql.array(tenantIds, 'text')})`);
  return new Set(rows.map((r) => r.tenant_id));
}

/**
 * Images of one tenant, in batch: the rows the batch touches are read once, evolved in memory
 * event by event, and written back with one upsert per table, so a replay costs a few
 * statements per batch rather than one per event.
 */
async function applyImageEvents(tx: Transaction, schema: string, events: ImageEvent[]): Promise<void> {
  const images = sql.identifier([schema, 'images']);
  const embeddings = sql.identifier([schema, 'image_embeddings']);
  const ids = [...new Set(events.map((e) => e.data.imageId))];
  const existing = await tx.any(sql.type(imageRowSchema)`
    select ${imageColumnList()}
    from ${images} where image_id = any(${sql.array(ids, 'text')})`);
  const rows = new Map<string, ImageRow>(existing.map((r) => [r.image_id, r]));
  const changed = new Set<string>();
  const newEmbeddings: EmbeddingRow[] = [];
  const newFeatures = new Map<string, Uint8Array>();
  for (const event of events) {
    const next = evolveImageRow(rows.get(event.data.imageId), event);
    if (!next) continue;
    rows.set(next.image_id, next);
    changed.add(next.image_id);
    if (event.type === 'ImageEmbedded') {
      newEmbeddings.push({
        image_id: event.data.imageId,
        model_id: event.data.modelId,
        model_version: event.data.modelVersion,
        dim: event.data.dim,
        embedded_at: event.metadata.occurredAt,
      });
      if (event.data.localFeatures) newFeatures.set(event.data.imageId, event.data.localFeatures);
    }
  }
  if (changed.size === 0) return;
  await upsertImageRows(
    tx,
    schema,
    [...changed].map((id) => rows.get(id)!),
  );
  const deleted = [...changed].filter((id) => rows.get(id)!.status === 'deleted');
  const embedded = newEmbeddings.filter((e) => rows.get(e.image_id)!.status !== 'deleted');
  if (embedded.length > 0) {
    await tx.query(sql.typeAlias('void')`
      insert into ${embeddings} (image_id, model_id, model_version, dim, embedded_at)
      select x.image_id, x.model_id, x.model_version, x.dim, ${fromEpochMs(sql.fragment`x.embedded_at`)}
      from jsonb_to_recordset(${sql.jsonb(embedded)})
        as x(image_id text, model_id text, model_version text, dim int, embedded_at bigint)
      on conflict do nothing`);
  }
  const features = [...newFeatures].filter(([id]) => rows.get(id)!.status !== 'deleted');
  if (features.length > 0) {
    await tx.query(sql.typeAlias('void')`
      insert into ${sql.identifier([schema, 'image_features'])} (image_id, features)
      select x.image_id, decode(x.features, 'base64')
      from unnest(${sql.array(
        features.map(([id]) => id),
        'text',
      )}, ${sql.array(
        features.map(([, blob]) => Buffer.from(blob).toString('base64')),
        'text',
      )}) as x(image_id, features)
      on conflict (image_id) do update set features = excluded.features`);
  }
  if (deleted.length > 0) {
    await tx.query(
      sql.typeAlias('void')`delete from ${embeddings} where image_id = any(${sql.array(deleted, 'text')})`,
    );
    await tx.query(
      sql.typeAlias(
        'void',
      )`delete from ${sql.identifier([schema, 'image_features'])} where image_id = any(${sql.array(deleted, 'text')})`,
    );
  }
}

/** One multi-row upsert of image rows (also what the replay benchmark's raw baseline runs). */
export async function upsertImageRows(tx: Transaction, schema: string, rows: ImageRow[]): Promise<void> {
  await tx.query(sql.typeAlias('void')`
    insert into ${sql.identifier([schema, 'images'])} (${upsertColumns})
    select ${upsertValues}
    from jsonb_to_recordset(${sql.jsonb(rows)}) as x(${upsertRecordset})
    on conflict (image_id) do update set ${upsertUpdates}`);
}

async function applyTenantEvent(
  tx: Transaction,
  context: GenerationContext,
  event: TenantEvent,
  ensured: Set<string>,
  databases: TenantDatabases | undefined,
): Promise<void> {
  const tenants = sql.identifier([context.schema('platform'), 'tenants']);
  const { aggregateVersion: version, occurredAt: at } = event.metadata;
  const guard = sql.fragment`tenant_id = ${event.data.tenantId} and version < ${version}`;
  const atTs = fromEpochMs(sql.fragment`${at}::bigint`);
  switch (event.type) {
    case 'TenantProvisioned': {
      const d = event.data;
      await tx.query(sql.typeAlias('void')`
        insert into ${tenants} (tenant_id, slug, name, plan, limits, status, version, provisioned_at, updated_at)
        values (${d.tenantId}, ${d.slug}, ${d.name}, ${d.plan}, ${sql.jsonb(d.limits)}, 'active', ${version},
          ${atTs}, ${atTs})
        on conflict do nothing`);
      if (d.databaseTarget) {
        await moveToDedicatedDatabase(tx, context, d.tenantId, d.databaseTarget, databases);
        ensured.delete(context.schema(tenantSchemaBase(d.tenantId)));
        return;
      }
      const schema = context.schema(tenantSchemaBase(d.tenantId));
      await ensureTenantSchema(tx, schema);
      ensured.add(schema);
      return;
    }
    case 'TenantPlanChanged': {
      const updated = await tx.query(sql.typeAlias('void')`
        update ${tenants} set plan = ${event.data.plan}, limits = ${sql.jsonb(event.data.limits)},
          version = ${version}, updated_at = ${atTs}
        where ${guard} and status <> 'deleted'`);
      if (updated.rowCount === 1 && event.data.databaseTarget) {
        await moveToDedicatedDatabase(tx, context, event.data.tenantId, event.data.databaseTarget, databases);
        ensured.delete(context.schema(tenantSchemaBase(event.data.tenantId)));
      }
      return;
    }
    case 'TenantStorageConfigured': {
      const { tenantId: _id, ...storage } = event.data;
      await tx.query(sql.typeAlias('void')`
        update ${tenants} set storage = ${sql.jsonb(storage)}, version = ${version}, updated_at = ${atTs}
        where ${guard}`);
      return;
    }
    case 'TenantSuspended':
      await tx.query(sql.typeAlias('void')`
        update ${tenants} set status = 'suspended', suspended_reason = ${event.data.reason},
          version = ${version}, updated_at = ${atTs}
        where ${guard} and status <> 'deleted'`);
      return;
    case 'TenantReactivated':
      await tx.query(sql.typeAlias('void')`
        update ${tenants} set status = 'active', suspended_reason = null, version = ${version}, updated_at = ${atTs}
        where ${guard} and status <> 'deleted'`);
      return;
    case 'TenantDeleted': {
      // Erasure: the tenant's images, users and keys go; the row stays as a tombstone (id,
      // slug, status) so late events of other topics for this tenant are recognised and dropped.
      // Its name is personal data: the tombstone shows what a rebuild after the erasure shows.
      const updated = await tx.query(sql.typeAlias('void')`
        update ${tenants} set status = 'deleted', name = ${erasedName}, suspended_reason = null, storage = null,
          version = ${version}, updated_at = ${atTs}, deleted_at = ${atTs}
        where ${guard}`);
      if (updated.rowCount === 0) return;
      const schema = context.schema(tenantSchemaBase(event.data.tenantId));
      await tx.query(sql.typeAlias('void')`drop schema if exists ${sql.identifier([schema])} cascade`);
      ensured.delete(schema);
      await tx.query(sql.typeAlias('void')`
        delete from ${sql.identifier([context.schema('platform'), 'users'])} where tenant_id = ${event.data.tenantId}`);
      await tx.query(sql.typeAlias('void')`
        delete from ${sql.identifier([context.schema('platform'), 'api_keys'])}
        where tenant_id = ${event.data.tenantId}`);
      // Last, before this transaction commits: a crash after the drop repeats the event (its
      // checkpoint did not move) and the drop again finds nothing.
      const dedicated = await tx.maybeOne(sql.type(tenantDatabaseRow)`
        delete from ${sql.identifier([context.schema('platform'), 'tenant_databases'])}
        where tenant_id = ${event.data.tenantId} returning target, database`);
      if (dedicated) await requireDatabases(databases).drop(dedicated);
      return;
    }
    case 'StorageMoveStarted':
      // A move to DeepLens's own storage: the tenant brings none any more (else the target's
      // TenantStorageConfigured of the same decision follows). Progress is not projected here.
      if (event.data.toPlatform)
        await tx.query(sql.typeAlias('void')`
          update ${tenants} set storage = null, version = ${version}, updated_at = ${atTs} where ${guard}`);
      return;
    case 'StorageMoveProgressed':
    case 'StorageMoveVerified':
    case 'StorageMoveCompleted':
    case 'StorageMoveFailed':
      return;
    default:
      return assertNever(event, 'tenant event');
  }
}

const tenantDatabaseRow = z.object({ target: z.string(), database: z.string() });
const embeddingCopyRow = z.object({
  image_id: z.string(),
  model_id: z.string(),
  model_version: z.string(),
  dim: z.number(),
  embedded_at: z.number(),
});
const featuresCopyRow = z.object({ image_id: z.string(), features: z.instanceof(Buffer) });

function requireDatabases(databases: TenantDatabases | undefined): TenantDatabases {
  if (!databases) throw new Error('this projector has no dedicated tenant databases configured');
  return databases;
}

/** The dedicated databases of the batch's tenants in this generation. */
async function dedicatedDatabasesOf(
  tx: Transaction,
  platform: string,
  tenantIds: string[],
): Promise<Map<string, TenantDatabase>> {
  if (tenantIds.length === 0) return new Map();
  const rows = await tx.any(sql.type(tenantDatabaseRow.extend({ tenant_id: z.string() }))`
    select tenant_id, target, database from ${sql.identifier([platform, 'tenant_databases'])}
    where tenant_id = any(${sql.array(tenantIds, 'text')})`);
  return new Map(rows.map((r) => [r.tenant_id, { target: r.target, database: r.database }]));
}

/**
 * The tenant's read model moves into a database of its own (provisioned as dedicated, or its
 * plan changed to it), holding the tenant's lock exclusively. The database is created if
 * missing (not transactional, idempotent), its tables emptied and filled from the shared schema
 * if there is one (images read before `TenantProvisioned`, or the whole tenant on a plan
 * change) in one transaction of its own; then this transaction records it and drops the shared
 * schema. A crash in between repeats all of it from the shared schema, which is still there.
 */
async function moveToDedicatedDatabase(
  tx: Transaction,
  context: GenerationContext,
  tenantId: string,
  target: string,
  databases: TenantDatabases | undefined,
): Promise<void> {
  const registry = sql.identifier([context.schema('platform'), 'tenant_databases']);
  const known = await tx.maybeOne(sql.type(tenantDatabaseRow)`
    select target, database from ${registry} where tenant_id = ${tenantId}`);
  if (known) return;
  const dbs = requireDatabases(databases);
  if (!dbs.hasTarget(target)) {
    throw new Error(`No database server named ${target} is configured (TENANT_DATABASE_URLS)`);
  }
  const at = { target, database: dbs.nameOf(tenantId, context.generation) };
  await dbs.ensure(at);
  const shared = context.schema(tenantSchemaBase(tenantId));
  const schema = tenantSchemaBase(tenantId);
  const hasShared = await tableExists(tx, shared, 'images');
  const hasFeatures = hasShared && (await tableExists(tx, shared, 'image_features'));
  // Reads of the shared schema run in the shared transaction, writes in transactions of the
  // dedicated database; until the registry row below commits, a repeat starts again from empty.
  await dbs.transaction(at, async (dtx) => {
    await ensureDedicatedCheckpoints(dtx);
    await ensureTenantSchema(dtx, schema);
    await dtx.query(sql.typeAlias('void')`
      truncate ${sql.identifier([schema, 'images'])}, ${sql.identifier([schema, 'image_embeddings'])},
        ${sql.identifier([schema, 'image_features'])}, deeplens.checkpoints`);
  });
  for (let after = ''; hasShared;) {
    const rows = await tx.any(sql.type(imageRowSchema)`
      select ${imageColumnList()}
      from ${sql.identifier([shared, 'images'])} where image_id > ${after} order by image_id limit 500`);
    if (rows.length === 0) break;
    const ids = sql.array(
      rows.map((r) => r.image_id),
      'text',
    );
    const embeddings = await tx.any(sql.type(embeddingCopyRow)`
      select image_id, model_id, model_version, dim, embedded_at
      from ${sql.identifier([shared, 'image_embeddings'])} where image_id = any(${ids})`);
    const features = hasFeatures
      ? await tx.any(sql.type(featuresCopyRow)`
          select image_id, features from ${sql.identifier([shared, 'image_features'])} where image_id = any(${ids})`)
      : [];
    await dbs.transaction(at, async (dtx) => {
      await upsertImageRows(dtx, schema, [...rows]);
      if (embeddings.length > 0) {
        await dtx.query(sql.typeAlias('void')`
          insert into ${sql.identifier([schema, 'image_embeddings'])} (image_id, model_id, model_version, dim, embedded_at)
          select x.image_id, x.model_id, x.model_version, x.dim, ${fromEpochMs(sql.fragment`x.embedded_at`)}
          from jsonb_to_recordset(${sql.jsonb(embeddings)})
            as x(image_id text, model_id text, model_version text, dim int, embedded_at bigint)
          on conflict do nothing`);
      }
      if (features.length > 0) {
        await dtx.query(sql.typeAlias('void')`
          insert into ${sql.identifier([schema, 'image_features'])} (image_id, features)
          select x.image_id, decode(x.features, 'base64')
          from unnest(${sql.array(
            features.map((f) => f.image_id),
            'text',
          )}, ${sql.array(
            features.map((f) => f.features.toString('base64')),
            'text',
          )}) as x(image_id, features)
          on conflict (image_id) do update set features = excluded.features`);
      }
    });
    after = rows.at(-1)!.image_id;
  }
  await tx.query(sql.typeAlias('void')`
    insert into ${registry} (tenant_id, target, database) values (${tenantId}, ${target}, ${at.database})`);
  await tx.query(sql.typeAlias('void')`drop schema if exists ${sql.identifier([shared])} cascade`);
}

/**
 * A dedicated tenant's image events, in ONE transaction of its database that skips records at or
 * below that database's own checkpoints and moves them: exactly once per database, whatever
 * the shared transaction around it does next.
 */
async function applyDedicatedImages(
  databases: TenantDatabases,
  at: TenantDatabase,
  tenantId: string,
  records: RecordedEvent[],
): Promise<void> {
  await databases.transaction(at, async (dtx) => {
    const last = new Map<string, { topic: string; partition: number; offset: number }>();
    for (const r of records) {
      const key = checkpointKey(r.topic, r.partition);
      if ((last.get(key)?.offset ?? -1) < r.offset)
        last.set(key, { topic: r.topic, partition: r.partition, offset: r.offset });
    }
    const marks = [...last.values()].sort((a, b) =>
      checkpointKey(a.topic, a.partition) < checkpointKey(b.topic, b.partition) ? -1 : 1,
    );
    const topics = sql.array(
      marks.map((m) => m.topic),
      'text',
    );
    const partitions = sql.array(
      marks.map((m) => m.partition),
      'int4',
    );
    await dtx.query(sql.typeAlias('void')`
      insert into deeplens.checkpoints (topic, partition, "offset")
      select x.topic, x.partition, -1 from unnest(${topics}, ${partitions}) as x(topic, partition)
      on conflict do nothing`);
    const stored = await dtx.any(sql.type(
      z.object({ topic: z.string(), partition: z.number(), offset: z.number() }),
    )`
      select topic, partition, "offset" from deeplens.checkpoints
      where (topic, partition) in (select * from unnest(${topics}, ${partitions}))
      order by topic, partition for update`);
    const done = new Map(stored.map((s) => [checkpointKey(s.topic, s.partition), s.offset]));
    const fresh = records.filter((r) => r.offset > (done.get(checkpointKey(r.topic, r.partition)) ?? -1));
    if (fresh.length === 0) return;
    await applyImageEvents(
      dtx,
      tenantSchemaBase(tenantId),
      fresh.map((r) => r.event as ImageEvent),
    );
    await dtx.query(sql.typeAlias('void')`
      update deeplens.checkpoints c set "offset" = greatest(c."offset", x.offset)
      from unnest(${topics}, ${partitions}, ${sql.array(
        marks.map((m) => m.offset),
        'int8',
      )})
        as x(topic, partition, "offset")
      where c.topic = x.topic and c.partition = x.partition`);
  });
}

async function applyIdentityEvent(
  tx: Transaction,
  context: GenerationContext,
  event: IdentityEvent,
): Promise<void> {
  const platform = context.schema('platform');
  const users = sql.identifier([platform, 'users']);
  const keys = sql.identifier([platform, 'api_keys']);
  const { aggregateVersion: version, occurredAt: at } = event.metadata;
  const atTs = fromEpochMs(sql.fragment`${at}::bigint`);
  switch (event.type) {
    case 'UserRegistered': {
      const d = event.data;
      await tx.query(sql.typeAlias('void')`
        insert into ${users} (user_id, tenant_id, email, password_hash, role, version, registered_at, updated_at)
        values (${d.userId}, ${d.tenantId}, ${d.email}, ${d.passwordHash}, ${d.role}, ${version}, ${atTs}, ${atTs})
        on conflict do nothing`);
      return;
    }
    case 'UserRoleChanged':
      await tx.query(sql.typeAlias('void')`
        update ${users} set role = ${event.data.role}, version = ${version}, updated_at = ${atTs}
        where user_id = ${event.data.userId} and version < ${version}`);
      return;
    case 'UserDisabled':
      await tx.query(sql.typeAlias('void')`
        update ${users} set disabled = true, disabled_reason = ${event.data.reason}, version = ${version},
          updated_at = ${atTs}
        where user_id = ${event.data.userId} and version < ${version}`);
      return;
    case 'UserErased':
      // The live row's e-mail and hash are overwritten with what a rebuild from the log shows.
      await tx.query(sql.typeAlias('void')`
        update ${users} set email = ${erasedEmail(event.data.userId)}, password_hash = '', disabled = true,
          version = ${version}, updated_at = ${atTs}
        where user_id = ${event.data.userId} and version < ${version}`);
      return;
    case 'ApiKeyIssued': {
      const d = event.data;
      const expires = d.expiresAt === null ? null : fromEpochMs(sql.fragment`${d.expiresAt}::bigint`);
      await tx.query(sql.typeAlias('void')`
        insert into ${keys} (key_id, tenant_id, name, prefix, secret_hash, scopes, expires_at, version, issued_at,
          updated_at)
        values (${d.keyId}, ${d.tenantId}, ${d.name}, ${d.prefix}, ${d.secretHash}, ${sql.array(d.scopes, 'text')},
          ${expires}, ${version}, ${atTs}, ${atTs})
        on conflict do nothing`);
      return;
    }
    case 'ApiKeyRevoked':
      await tx.query(sql.typeAlias('void')`
        update ${keys} set revoked_at = ${atTs}, revoked_reason = ${event.data.reason}, version = ${version},
          updated_at = ${atTs}
        where key_id = ${event.data.keyId} and version < ${version}`);
      return;
    default:
      return assertNever(event, 'identity event');
  }
}

function tenantOf(event: TenantEvent | IdentityEvent | ImageEvent): string | null {
  return event.data.tenantId;
}

/**
 * The metadata read model: `platform` (tenants, users, API keys) and one schema per tenant for
 * its images, created on `TenantProvisioned` (or on the tenant's first image, whichever of the
 * two topics is read first) and dropped on `TenantDeleted`.
 */
export const metadataProjection: ProjectionDefinition = {
  name: metadataProjectionName,
  version: 1,
  async open({ pool, tenantDatabases: databases }, generation) {
    return postgresProjection({
      pool,
      name: metadataProjectionName,
      version: 1,
      generation,
      canHandle,
      async apply(tx, records: RecordedEvent[], context) {
        // Per transaction: a rolled-back savepoint may have undone a schema this set remembers.
        const ensured = new Set<string>();
        const platform = context.schema('platform');
        await ensurePlatformSchema(tx, platform);
        const events = records.map((r) => r.event) as (TenantEvent | IdentityEvent | ImageEvent)[];
        const tenantIds = [...new Set(events.map(tenantOf).filter((id): id is string => id !== null))];
        // An erasure, and a move into a dedicated database, hold the tenant's lock exclusively.
        await lockTenants(
          tx,
          events
            .filter(
              (e) =>
                e.type === 'TenantDeleted' ||
                ((e.type === 'TenantProvisioned' || e.type === 'TenantPlanChanged') &&
                  !!e.data.databaseTarget),
            )
            .map(tenantOf)
            .filter((id): id is string => id !== null),
          tenantIds,
        );
        const tombstoned = await deletedTenants(tx, platform, tenantIds);
        // Events of one partition come from one topic; still, keep their order within kinds.
        const imagesByTenant = new Map<string, RecordedEvent[]>();
        for (const record of records) {
          const event = record.event as TenantEvent | IdentityEvent | ImageEvent;
          const tenantId = tenantOf(event);
          if (tenantId !== null && tombstoned.has(tenantId) && event.type !== 'TenantDeleted') continue;
          if ((imageEventTypes as readonly string[]).includes(event.type)) {
            const list = imagesByTenant.get(tenantId!) ?? [];
            list.push(record);
            imagesByTenant.set(tenantId!, list);
          } else if ((tenantEventTypes as readonly string[]).includes(event.type)) {
            await applyTenantEvent(tx, context, event as TenantEvent, ensured, databases);
          } else {
            await applyIdentityEvent(tx, context, event as IdentityEvent);
          }
        }
        const dedicated = await dedicatedDatabasesOf(tx, platform, [...imagesByTenant.keys()]);
        for (const [tenantId, imageRecords] of [...imagesByTenant].sort(([a], [b]) => (a < b ? -1 : 1))) {
          const at = dedicated.get(tenantId);
          if (at) {
            await applyDedicatedImages(requireDatabases(databases), at, tenantId, imageRecords);
            continue;
          }
          const imageEvents = imageRecords.map((r) => r.event as ImageEvent);
          const schema = context.schema(tenantSchemaBase(tenantId));
          if (!ensured.has(schema)) {
            await ensureTenantSchema(tx, schema);
            ensured.add(schema);
          }
          await applyImageEvents(tx, schema, imageEvents);
        }
      },
      async dropStorage(p, gen, active) {
        await dropGenerationSchemas(p, metadataSchemaBase, gen, active);
        await databases?.dropGeneration(gen);
      },
    });
  },
  activate: (tx, from, to) => renameSchemasForSwitch(tx, metadataSchemaBase, from, to),
  async drop({ pool, tenantDatabases }, generation) {
    await dropGenerationSchemas(pool, metadataSchemaBase, generation);
    await tenantDatabases?.dropGeneration(generation);
  },
};
