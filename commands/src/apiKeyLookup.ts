import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import type { ApiKeyRecord } from '@deeplens/platform/http/authenticate';
import type { CommandHandler } from './commandHandler.ts';
import type { IssuedApiKey } from './identity/apiKeyState.ts';
import { tenantDecider } from './tenant/tenantDecider.ts';

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

/**
 * How both APIs authenticate an API key: the key by its prefix, honoured only while its tenant
 * is active (a suspended or erased tenant's keys stop working with it).
 */
export function createApiKeyResolver(
  pool: DatabasePool,
  writeModel: Pick<CommandHandler, 'load'>,
): (prefix: string) => Promise<ApiKeyRecord | undefined> {
  return async (prefix) => {
    const key = await findApiKeyByPrefix(pool, prefix);
    if (!key) return undefined;
    const tenant = await writeModel.load(tenantDecider, key.tenantId);
    if (tenant.status !== 'active') return undefined;
    return {
      keyId: key.keyId,
      tenantId: key.tenantId,
      secretHash: key.secretHash,
      scopes: key.scopes,
      expiresAt: key.expiresAt,
      revoked: key.status === 'revoked',
    };
  };
}
