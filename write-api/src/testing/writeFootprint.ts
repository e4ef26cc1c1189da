import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';

const footprintRow = z.object({
  outbox: z.number(),
  aggregates: z.number(),
  aggregate_versions: z.number(),
  reservations: z.number(),
  idempotency_keys: z.number(),
  refresh_tokens: z.number(),
  usage_images: z.number(),
  usage_bytes: z.number(),
});

/**
 * Everything a command leaves behind: outbox rows, aggregates (and their versions, so an
 * update shows too), reservations, stored answers (of commands and of requests), sessions, usage, and stored object files.
 * A refused request must leave it exactly as it was.
 */
export async function writeFootprint(pool: DatabasePool, objectStoreDir: string) {
  const row = await pool.one(sql.type(footprintRow)`
    select
      (select count(*) from write.outbox)::int8 as outbox,
      (select count(*) from write.aggregates)::int8 as aggregates,
      (select coalesce(sum(version), 0) from write.aggregates)::int8 as aggregate_versions,
      (select count(*) from write.unique_reservations)::int8 as reservations,
      (select count(*) from write.idempotency_keys)::int8 as idempotency_keys,
      (select count(*) from auth.refresh_tokens)::int8 as refresh_tokens,
      (select coalesce(sum(images), 0) from write.usage_stripes)::int8 as usage_images,
      (select coalesce(sum(bytes), 0) from write.usage_stripes)::int8 as usage_bytes`);
  const files = async (dir: string): Promise<number> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    let n = 0;
    for (const e of entries) n += e.isDirectory() ? await files(join(dir, e.name)) : 1;
    return n;
  };
  return { ...row, objects: await files(objectStoreDir) };
}
