import { assertNever } from '@deeplens/events/assertNever';
import type { ImageEvent } from '@deeplens/events/imageEvents';
import type { ImageFields } from '@deeplens/events/imageFields';

/** What the history needs to remember of an image to say what the next event changed. */
export type ImageHistoryState = {
  imageId: string;
  tenantId: string;
  /** `null` until an `ImageUploaded` was seen (a record the operator skipped, say). */
  status: 'uploaded' | 'embedded' | 'failed' | 'deleted' | null;
  tags: string[] | null;
  attributes: Record<string, string> | null;
  version: number;
};

/** A field an event changed: what it was before and what it is after. */
export type Change<T> = { before: T; after: T };

/** What an event changed of the image's state (only the parts that changed). */
export type HistoryChanges = {
  status?: Change<ImageHistoryState['status']>;
  tags?: Change<string[] | null>;
  attributes?: Change<Record<string, string> | null>;
};

/**
 * What an event says besides the state it changed. Never a vector, an object key or anything
 * secret: the embedding's model, dimension and perceptual hash, not the embedding.
 */
export type HistoryDetails =
  | Pick<ImageFields, 'filename' | 'mime' | 'bytes' | 'width' | 'height' | 'sha256' | 'source'>
  | { model: string; dim: number; perceptualHash: string | null }
  | { model: string; reason: string; retriable: boolean }
  | { width: number; height: number; mime: string }
  | { bytes: number }
  | Record<string, never>;

/** One event of an image's history, as the projection stores it. */
export type HistoryEntry = {
  tenantId: string;
  imageId: string;
  version: number;
  eventId: string;
  type: ImageEvent['type'];
  occurredAt: number;
  actor: string;
  correlationId: string;
  causationId: string | null;
  changes: HistoryChanges;
  details: HistoryDetails;
};

const sortedRecord = (record: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

const sameTags = (a: string[] | null, b: string[] | null) => JSON.stringify(a) === JSON.stringify(b);

// Key order is not part of an attribute map (PostgreSQL's jsonb keeps its own).
const sameAttributes = (a: Record<string, string> | null, b: Record<string, string> | null) =>
  JSON.stringify(a && sortedRecord(a)) === JSON.stringify(b && sortedRecord(b));

/**
 * The history entry an image event adds and the image's next state (pure). `undefined` when
 * the state already holds the event (its version is not newer): re-applying a record changes
 * nothing. An event about an image whose upload was never seen is still recorded, with
 * unknown (`null`) "before" values.
 */
export function evolveImageHistory(
  state: ImageHistoryState | undefined,
  event: ImageEvent,
): { entry: HistoryEntry; state: ImageHistoryState } | undefined {
  const { aggregateVersion: version } = event.metadata;
  if (state && version <= state.version) return undefined;
  const { tenantId, imageId } = event.data;
  const before: ImageHistoryState = state ?? {
    imageId,
    tenantId,
    status: null,
    tags: null,
    attributes: null,
    version: 0,
  };
  let after: ImageHistoryState = { ...before, version };
  let details: HistoryDetails;
  switch (event.type) {
    case 'ImageUploaded': {
      const d = event.data;
      after = { ...after, status: 'uploaded', tags: [...d.tags], attributes: sortedRecord(d.attributes) };
      details = {
        filename: d.filename,
        mime: d.mime,
        bytes: d.bytes,
        width: d.width,
        height: d.height,
        sha256: d.sha256,
        source: d.source,
      };
      break;
    }
    case 'ImageEmbedded':
      if (before.status !== 'deleted') after = { ...after, status: 'embedded' };
      details = {
        model: `${event.data.modelId}@${event.data.modelVersion}`,
        dim: event.data.dim,
        perceptualHash: event.data.perceptualHash ?? null,
      };
      break;
    case 'ImageEmbeddingFailed':
      // An image embedded by another model stays embedded, as the metadata read model has it.
      if (before.status !== 'deleted' && before.status !== 'embedded') after = { ...after, status: 'failed' };
      details = {
        model: `${event.data.modelId}@${event.data.modelVersion}`,
        reason: event.data.reason,
        retriable: event.data.retriable,
      };
      break;
    case 'ThumbnailGenerated':
      details = { width: event.data.width, height: event.data.height, mime: event.data.mime };
      break;
    case 'ImageMetadataUpdated':
      after = { ...after, tags: [...event.data.tags], attributes: sortedRecord(event.data.attributes) };
      details = {};
      break;
    case 'ImageDeleted':
      after = { ...after, status: 'deleted' };
      details = { bytes: event.data.bytes };
      break;
    default:
      return assertNever(event, 'image event');
  }
  const changes: HistoryChanges = {};
  if (after.status !== before.status) changes.status = { before: before.status, after: after.status };
  if (!sameTags(after.tags, before.tags)) changes.tags = { before: before.tags, after: after.tags };
  if (!sameAttributes(after.attributes, before.attributes))
    changes.attributes = { before: before.attributes, after: after.attributes };
  const m = event.metadata;
  return {
    entry: {
      tenantId,
      imageId,
      version,
      eventId: m.eventId,
      type: event.type,
      occurredAt: m.occurredAt,
      actor: m.actor,
      correlationId: m.correlationId,
      causationId: m.causationId,
      changes,
      details,
    },
    state: after,
  };
}

/** Who caused an event, as the API shows it. */
export type HistoryActor = { kind: 'user' | 'apiKey' | 'intake' | 'system'; id: string | null };

/**
 * An event's `actor` for the API: `user:<id>` and `apikey:<id>` are the caller, an intake
 * key's records are `intake` with the key id, and our own processes are `system` with the
 * process (`embedder`, `tenant-eraser`, …).
 */
export function describeActor(actor: string): HistoryActor {
  const [kind = '', ...rest] = actor.split(':');
  const id = rest.join(':');
  if (kind === 'user') return { kind: 'user', id };
  if (kind === 'apikey') return { kind: 'apiKey', id };
  if (kind === 'system' && id === 'intake') return { kind: 'intake', id: null };
  if (kind === 'system' && id.startsWith('intake-key:'))
    return { kind: 'intake', id: id.slice('intake-key:'.length) };
  return { kind: 'system', id: kind === 'system' ? id : actor };
}
