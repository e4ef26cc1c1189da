import type { Kafka } from 'kafkajs';
import { ValidationError } from '@deeplens/platform/errors';
import { fetchTopicOffsetsSettled } from '@deeplens/platform/kafkaRetry';
import type { GenerationBound } from './generations.ts';
import { checkpointKey, type Projection } from './projection.ts';

/**
 * `--until` of a point-in-time rebuild: an ISO time (records whose timestamp is after it are
 * left out) or `topic:partition:offset,…` naming, for EVERY partition projected, the end of
 * the bound: the offset of the first record left out (as Kafka reports a log end), so the log
 * end read at a moment reproduces that moment.
 */
export type UntilArgument =
  { kind: 'time'; at: Date; label: string } | { kind: 'offsets'; ends: Map<string, number>; label: string };

const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Parses `--until`; throws `ValidationError` naming what is wrong. */
export function parseUntil(text: string): UntilArgument {
  const value = text.trim();
  if (isoTime.test(value)) {
    const at = new Date(value);
    if (Number.isNaN(at.getTime())) throw new ValidationError(`--until ${value} is not a valid time`);
    return { kind: 'time', at, label: at.toISOString() };
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]|$)/.test(value)) {
    throw new ValidationError(
      `--until ${value}: a time needs its zone, e.g. 2026-12-04T01:00:00Z or 2026-12-04T02:00:00+01:00`,
    );
  }
  const ends = new Map<string, number>();
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const match = /^(.+):(\d+):(\d+)$/.exec(part);
    if (!match) {
      throw new ValidationError(
        `--until takes an ISO time with its zone (2026-12-04T01:00:00Z) or topic:partition:offset,…; not ${part}`,
      );
    }
    const key = checkpointKey(match[1]!, Number(match[2]));
    if (ends.has(key)) throw new ValidationError(`--until names ${key} twice`);
    ends.set(key, Number(match[3]));
  }
  if (ends.size === 0)
    throw new ValidationError('--until needs a time or at least one topic:partition:offset');
  return { kind: 'offsets', ends, label: value };
}

/** Renders a bound the way `--until` takes it back. */
export function formatBound(ends: Map<string, number> | Record<string, number>): string {
  const entries = ends instanceof Map ? [...ends] : Object.entries(ends);
  return entries
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, end]) => `${key}:${end}`)
    .join(',');
}

/**
 * The bound's end offset on every partition of `topics`: for a time, the first record stamped
 * after it (Kafka's offsets-for-times, or the log end if there is none); for offsets, checked
 * against the partitions that exist and the log's end now.
 */
export async function resolveBound(
  kafka: Kafka,
  topics: readonly string[],
  until: UntilArgument,
): Promise<GenerationBound> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends: Record<string, number> = {};
    const logEnds = new Map<string, number>();
    for (const topic of topics) {
      for (const { partition, high } of await fetchTopicOffsetsSettled(admin, topic))
        logEnds.set(checkpointKey(topic, partition), Number(high));
    }
    if (until.kind === 'time') {
      if (until.at.getTime() > Date.now())
        throw new ValidationError(`--until ${until.label} is in the future`);
      for (const topic of topics) {
        // The first record stamped strictly after the bound is the first one left out.
        for (const { partition, offset } of await admin.fetchTopicOffsetsByTimestamp(
          topic,
          until.at.getTime() + 1,
        ))
          ends[checkpointKey(topic, partition)] = Number(offset);
      }
      return { label: until.label, ends };
    }
    const unknown = [...until.ends.keys()].filter((key) => !logEnds.has(key));
    if (unknown.length > 0) {
      throw new ValidationError(
        `--until names ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is not a partition' : 'are not partitions'} of the projected topics (${topics.join(', ')})`,
      );
    }
    const missing = [...logEnds.keys()].filter((key) => !until.ends.has(key));
    if (missing.length > 0) {
      throw new ValidationError(
        `--until must name every partition projected; missing ${missing.join(', ')} (the log end now is ${formatBound(new Map([...logEnds].filter(([key]) => missing.includes(key))))})`,
      );
    }
    for (const [key, end] of until.ends) {
      const logEnd = logEnds.get(key)!;
      if (end > logEnd) throw new ValidationError(`--until ${key}:${end} is beyond the log end ${logEnd}`);
      ends[key] = end;
    }
    return { label: until.label, ends };
  } finally {
    await admin.disconnect();
  }
}

/**
 * The projection as seen by a point-in-time build: records at or beyond each partition's end
 * are never applied (a batch is cut at the bound, its checkpoint moves to end − 1 at most).
 */
export function boundedProjection(projection: Projection, ends: Record<string, number>): Projection {
  return {
    name: projection.name,
    version: projection.version,
    generation: projection.generation,
    canHandle: projection.canHandle,
    checkpoints: () => projection.checkpoints(),
    async handle(batch) {
      const end = ends[checkpointKey(batch.topic, batch.partition)] ?? 0;
      if (batch.lastOffset < end) return projection.handle(batch);
      const lastOffset = end - 1;
      // Everything here is past the bound: there is nothing to apply and no checkpoint to move.
      if (lastOffset < 0) return;
      await projection.handle({
        ...batch,
        events: batch.events.filter((e) => e.offset < end),
        poison: batch.poison.filter((p) => p.offset < end),
        lastOffset,
      });
    },
    truncate: () => projection.truncate(),
    close: () => projection.close(),
  };
}
