import { z } from 'zod';
import type { Principal } from '@deeplens/platform/auth/principal';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { UnauthenticatedError } from '@deeplens/platform/errors';
import type { CredentialCache } from '@deeplens/platform/auth/credentialCache';

/**
 * How long a looked-up standing is reused. It bounds how late a revocation takes effect on a
 * token already issued: a suspension, deletion, key revocation, user disabling, role change or
 * logout committed at t is honoured by every request that starts after t + this (plus the
 * look-up itself), on both APIs and in every process.
 */
export const standingTtlMs = 500;

export type CredentialStandingOptions = {
  /** Reuse of a look-up, milliseconds; `standingTtlMs` by default, at most 1 000. */
  ttlMs?: number;
  /** Epoch milliseconds. */
  clock?: () => number;
  /** Look-ups kept at most (10 000 by default); past it the oldest go first. */
  maxEntries?: number;
  /**
   * A cache emptied by the write model's own change announcements (`createCredentialCache`):
   * when given, a look-up is reused while it serves, and `ttlMs` applies only while it does not.
   */
  cache?: Pick<CredentialCache, 'get' | 'live'>;
};

/** What the write model says now about whatever an access token names. */
const standingRow = z.object({
  tenant_status: z.string().nullable(),
  user_status: z.string().nullable(),
  user_role: z.string().nullable(),
  user_tenant: z.string().nullable(),
  key_status: z.string().nullable(),
  key_tenant: z.string().nullable(),
  key_expires_at: z.number().nullable(),
  session_revoked: z.boolean(),
});
/** What the write model says now about an access token's subject. */
export type Standing = z.infer<typeof standingRow>;

/**
 * The `checkStanding` of both APIs' authentication: one indexed read of the write model (the
 * tenant, user or API key aggregate, and the session's refresh tokens) per token subject,
 * reused for `ttlMs`. It reads the write model, not a projection, so nothing waits for Kafka.
 */
export function createCredentialStandingCheck(
  pool: DatabasePool,
  options: CredentialStandingOptions = {},
): (principal: Principal) => Promise<void> {
  const { clock = Date.now, maxEntries = 10_000 } = options;
  const ttlMs = Math.min(options.ttlMs ?? standingTtlMs, 1_000);
  const cache = new Map<string, { at: number; standing: Promise<Standing> }>();

  function lookUp(principal: Principal): Promise<Standing> {
    const tenantId = principal.tenantId;
    const userId = principal.userId ?? null;
    const keyId = principal.keyId ?? null;
    const sessionId = principal.sessionId ?? null;
    return pool.one(sql.type(standingRow)`
      select
        (select state->>'status' from write.aggregates
          where aggregate_type = 'tenant' and aggregate_id = ${tenantId}::text) as tenant_status,
        u.state->>'status' as user_status,
        u.state->>'role' as user_role,
        u.state->>'tenantId' as user_tenant,
        k.state->>'status' as key_status,
        k.state->>'tenantId' as key_tenant,
        (k.state->>'expiresAt')::float8 as key_expires_at,
        exists (select 1 from auth.refresh_tokens
          where family_id = ${sessionId}::uuid and revoked_at is not null) as session_revoked
      from (select 1) as one
      left join write.aggregates u on u.aggregate_type = 'user' and u.aggregate_id = ${userId}::text
      left join write.aggregates k on k.aggregate_type = 'apiKey' and k.aggregate_id = ${keyId}::text`);
  }

  function standingOf(principal: Principal): Promise<Standing> {
    const key = `${principal.actor}|${principal.tenantId}|${principal.sessionId ?? ''}`;
    if (options.cache?.live()) return options.cache.get(`standing:${key}`, () => lookUp(principal));
    const now = clock();
    const cached = cache.get(key);
    if (cached && now - cached.at < ttlMs) return cached.standing;
    if (cached) cache.delete(key);
    else if (cache.size >= maxEntries) {
      // Insertion order is age order: the oldest tenth goes at once.
      let drop = Math.ceil(maxEntries / 10);
      for (const old of cache.keys()) {
        if (drop-- <= 0) break;
        cache.delete(old);
      }
    }
    const standing = lookUp(principal);
    cache.set(key, { at: now, standing });
    // A failed look-up is not remembered: the next request asks again.
    standing.catch(() => cache.delete(key));
    return standing;
  }

  return async (principal) => {
    const refusal = refusalOf(principal, await standingOf(principal), clock());
    if (refusal) throw new UnauthenticatedError(`access token no longer valid: ${refusal}`);
  };
}

/** Why the token's subject no longer stands, or undefined when it does. */
export function refusalOf(principal: Principal, standing: Standing, now: number): string | undefined {
  if (principal.tenantId !== null && standing.tenant_status !== 'active') return 'the tenant is not active';
  if (principal.userId !== undefined) {
    if (standing.user_status !== 'active') return 'the user is disabled';
    if (standing.user_tenant !== principal.tenantId) return 'the user belongs to another tenant';
    if (standing.user_role !== principal.role) return 'the role has changed; sign in again';
  }
  if (principal.keyId !== undefined) {
    if (standing.key_status !== 'active') return 'the API key has been revoked';
    if (standing.key_tenant !== principal.tenantId) return 'the API key belongs to another tenant';
    if (standing.key_expires_at !== null && standing.key_expires_at <= now) return 'the API key has expired';
  }
  if (standing.session_revoked) return 'the session has ended';
  return undefined;
}
