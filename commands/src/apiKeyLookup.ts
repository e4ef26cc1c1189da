import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import type { IssuedApiKey } from './identity/apiKeyState.ts';

const row = z.object({ state: z.unknown() });

/**
 * The API key with this 8-character prefix, read from the write model — consistent the moment
 * a key is issued or revoked, which authentication needs (a revoked key must stop at once).
 */
export async function findApiKeyByPrefix(
  pool: DatabasePool,
  prefix: string,
): Promise<IssuedApiKey | undefined> {
  const found = await pool.maybeOne(sql.type(row)`
    select a.state from write.unique_reservations r
    join write.aggregates a on a.aggregate_type = 'apiKey' and a.aggregate_id = r.aggregate_id
    where r.kind = 'api_key_prefix' and r.value = ${prefix}`);
  return found ? (found.state as IssuedApiKey) : undefined;
}

/** The API key with this id (intake records name their key by id). */
export async function findApiKeyById(pool: DatabasePool, keyId: string): Promise<IssuedApiKey | undefined> {
  const found = await pool.maybeOne(sql.type(row)`
    select state from write.aggregates where aggregate_type = 'apiKey' and aggregate_id = ${keyId}`);
  return found ? (found.state as IssuedApiKey) : undefined;
}
