import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import {
  describeActor,
  type HistoryActor,
  type HistoryChanges,
  type HistoryDetails,
} from './imageHistory.ts';
import { imageHistorySchema } from './imageHistoryProjection.ts';

/** One event of an image's history, as the read API shows it. */
export type ImageHistoryItem = {
  /** The image's version after the event: 1, 2, 3 … in log order. */
  version: number;
  eventId: string;
  type: string;
  occurredAt: number;
  actor: HistoryActor;
  correlationId: string;
  causationId: string | null;
  changes: HistoryChanges;
  details: HistoryDetails;
  /** Where the event is in the log: `topic:partition:offset`. */
  logPosition: string;
};

export type ImageHistoryPage = { items: ImageHistoryItem[]; nextCursor: string | null };

const eventRow = z.object({
  version: z.number(),
  event_id: z.string(),
  type: z.string(),
  occurred_at: z.number(),
  actor: z.string(),
  correlation_id: z.string(),
  causation_id: z.string().nullable(),
  changes: z.record(z.string(), z.unknown()),
  details: z.record(z.string(), z.unknown()),
  topic: z.string(),
  partition: z.number(),
  offset: z.number(),
});
const existsRow = z.object({ exists: z.boolean() });

/** The largest aggregate version a cursor can name (an `int` column). */
const maxVersion = 2 ** 31 - 1;

/** A `nextCursor`: base64url JSON of `[version]`, the last version of the page before. */
export function encodeHistoryCursor(version: number): string {
  return Buffer.from(JSON.stringify([version])).toString('base64url');
}

/** The version a cursor this API gave out names, or `undefined` for anything else. */
export function decodeHistoryCursor(cursor: string): number | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 1) return undefined;
    const [version] = value as unknown[];
    return Number.isSafeInteger(version) && (version as number) >= 0 && (version as number) <= maxVersion
      ? (version as number)
      : undefined;
  } catch {
    return undefined;
  }
}

/** PostgreSQL's answer when the history schema does not exist yet (nothing projected). */
function isMissingRelation(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (code === '42P01' || code === '3F000') return true;
  }
  return false;
}

export type ImageHistoryQueries = ReturnType<typeof createImageHistoryQueries>;

/** Reads the history read model (`imageHistoryProjection`), always within one tenant. */
export function createImageHistoryQueries(pool: DatabasePool) {
  const s = (table: string) => sql.identifier([imageHistorySchema, table]);
  return {
    /**
     * One page of an image's events in log order, after `afterVersion`; `undefined` when the
     * tenant has no such image in its history (never seen, another tenant's, or erased).
     */
    async imageHistory(
      tenantId: string,
      imageId: string,
      options: { afterVersion?: number; limit?: number } = {},
    ): Promise<ImageHistoryPage | undefined> {
      const limit = options.limit ?? 50;
      try {
        const rows = await pool.any(sql.type(eventRow)`
          select version, event_id, type, occurred_at, actor, correlation_id, causation_id, changes, details,
            topic, partition, "offset"
          from ${s('image_events')}
          where tenant_id = ${tenantId} and image_id = ${imageId} and version > ${options.afterVersion ?? 0}
          order by version
          limit ${limit + 1}`);
        // No events on this page: a known image past its last event, or no such image.
        if (rows.length === 0) {
          const known = await pool.oneFirst(sql.type(existsRow)`
            select exists (select from ${s('images')} where image_id = ${imageId} and tenant_id = ${tenantId}) as exists`);
          if (!known) return undefined;
        }
        const page = rows.slice(0, limit);
        return {
          items: page.map((r) => ({
            version: r.version,
            eventId: r.event_id,
            type: r.type,
            occurredAt: r.occurred_at,
            actor: describeActor(r.actor),
            correlationId: r.correlation_id,
            causationId: r.causation_id,
            changes: r.changes,
            details: r.details as HistoryDetails,
            logPosition: `${r.topic}:${r.partition}:${r.offset}`,
          })),
          nextCursor: rows.length > limit ? encodeHistoryCursor(page.at(-1)!.version) : null,
        };
      } catch (error) {
        if (isMissingRelation(error)) return undefined;
        throw error;
      }
    },
  };
}
