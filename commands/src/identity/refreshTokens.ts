import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { UnauthenticatedError } from '@deeplens/platform/errors';
import type { CredentialChangeSignal } from '../commandHandler.ts';

/**
 * Refresh tokens: opaque, single-use, rotated on every use, kept as plain session state in
 * `auth.refresh_tokens` (migration `commands/migrations/005_sessions.sql`). Only a token's
 * SHA-256 is stored: a database leak yields no usable token.
 *
 * Reuse detection (OAuth 2.0 Security BCP §4.14): a refresh token presented a second time
 * means two parties hold it, and we cannot tell which one is the thief, so the whole family
 * (every token descended from that sign-in) is revoked and both must sign in again.
 */
export const defaultRefreshTokenTtlSeconds = 30 * 24 * 60 * 60;

const tokenPattern = /^[A-Za-z0-9_-]{43}$/;

export type RefreshTokenStoreOptions = {
  /** Epoch milliseconds. */
  clock?: () => number;
  /** Lifetime of each token; rotation starts a new one, so an active session slides. 30 days. */
  ttlSeconds?: number;
  /**
   * A token used again within this many seconds of its rotation is refused WITHOUT revoking
   * the family: the client that won keeps its session (two browser tabs refreshing at once).
   * 0 (strict, the default) treats every second use as theft.
   */
  reuseGraceSeconds?: number;
  /** Called after a family was revoked for reuse: worth a security log line or an alert. */
  onReuseDetected?: (reuse: RefreshTokenReuse) => void;
  /**
   * Told after each commit that revoked a session (logout, reuse, signing a user out): the
   * command handler's `credentialChanges`, so this process honours it at once.
   */
  credentialChanges?: Pick<CredentialChangeSignal, 'changed'>;
};

export type RefreshTokenReuse = {
  familyId: string;
  userId: string;
  tenantId: string | null;
  /** `used`: rotated before; `revoked`: the session was revoked (logout, earlier reuse). */
  reason: 'used' | 'revoked';
};

export type IssuedRefreshToken = {
  /** The opaque token for the client: 32 random bytes, base64url. */
  token: string;
  tokenId: string;
  /** The sign-in this token belongs to; every rotation keeps it. */
  familyId: string;
  /** Epoch milliseconds. */
  expiresAt: number;
};

export type RotatedRefreshToken = IssuedRefreshToken & {
  userId: string;
  tenantId: string | null;
};

export type RefreshTokenStore = {
  /**
   * A new token for a user: a new session, or, with `familyId`, one more token in an existing
   * session of the same user (refused with `UnauthenticatedError` if that session is revoked).
   */
  issue(userId: string, tenantId: string | null, familyId?: string): Promise<IssuedRefreshToken>;
  /**
   * Spends `token` and returns its successor with the session's user and tenant; the caller
   * then checks the user is still allowed in and issues an access token. Throws
   * `UnauthenticatedError` for an unknown or expired token, and for a used or revoked one after
   * revoking its whole family ("refresh token reuse detected"). Of two concurrent rotations of
   * one token exactly one succeeds; the other counts as reuse.
   */
  rotate(token: string): Promise<RotatedRefreshToken>;
  /** Logout: revokes the token's whole family. False when the token is unknown (still a 204). */
  revoke(token: string): Promise<boolean>;
  /** Signs a user out everywhere (disabled, password changed); returns the tokens revoked. */
  revokeAllForUser(userId: string): Promise<number>;
  /** Deletes the sessions whose every token has expired; returns the rows deleted. */
  purgeExpired(): Promise<number>;
};

/** Lower-case hex SHA-256 of a refresh token, as stored. */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const claimedRow = z.object({ family_id: z.string(), user_id: z.string(), tenant_id: z.string().nullable() });
const presentedRow = claimedRow.extend({
  used: z.boolean(),
  revoked: z.boolean(),
  used_recently: z.boolean(),
});
const foundRow = z.object({ found: z.boolean() });
const countRow = z.object({ count: z.number() });

type RotationOutcome =
  | { kind: 'rotated'; rotated: RotatedRefreshToken }
  | { kind: 'unknown' | 'expired' | 'rotatedRecently' }
  | { kind: 'reused'; reuse: RefreshTokenReuse };

/** The refresh token sessions of the write API, on its database pool. */
export function createRefreshTokenStore(
  pool: DatabasePool,
  options: RefreshTokenStoreOptions = {},
): RefreshTokenStore {
  const {
    clock = Date.now,
    ttlSeconds = defaultRefreshTokenTtlSeconds,
    reuseGraceSeconds = 0,
    onReuseDetected,
    credentialChanges,
  } = options;
  const at = (epochMs: number) => sql.timestamp(new Date(epochMs));

  function newToken(familyId: string, now: number): IssuedRefreshToken & { hash: string } {
    const token = randomBytes(32).toString('base64url');
    return {
      token,
      tokenId: randomUUID(),
      familyId,
      expiresAt: now + ttlSeconds * 1000,
      hash: hashRefreshToken(token),
    };
  }

  async function issue(
    userId: string,
    tenantId: string | null,
    familyId: string = randomUUID(),
  ): Promise<IssuedRefreshToken> {
    const now = clock();
    const { hash, ...issued } = newToken(familyId, now);
    // Joining a family is refused if it is revoked or somebody else's.
    const inserted = await pool.query(sql.typeAlias('void')`
      insert into auth.refresh_tokens (id, family_id, user_id, tenant_id, token_hash, issued_at, expires_at)
      select ${issued.tokenId}::uuid, ${familyId}::uuid, ${userId}::text, ${tenantId}::text, ${hash}::text,
        ${at(now)}, ${at(issued.expiresAt)}
      where not exists (
        select 1 from auth.refresh_tokens
        where family_id = ${familyId}::uuid
          and (revoked_at is not null or user_id <> ${userId}::text or tenant_id is distinct from ${tenantId}::text))`);
    if (inserted.rowCount !== 1) throw new UnauthenticatedError('the session has been revoked');
    return issued;
  }

  async function rotate(token: string): Promise<RotatedRefreshToken> {
    if (!tokenPattern.test(token)) throw new UnauthenticatedError('refresh token is not valid');
    const hash = hashRefreshToken(token);
    const now = clock();
    const outcome = await pool.transaction(async (tx): Promise<RotationOutcome> => {
      const { hash: nextHash, ...next } = newToken('', now);
      // The row lock this takes is what makes rotation race-safe: a concurrent rotation of the
      // same token waits, then finds used_at set and matches nothing.
      const claimed = await tx.maybeOne(sql.type(claimedRow)`
        update auth.refresh_tokens t
        set used_at = ${at(now)}, replaced_by = ${next.tokenId}
        where t.token_hash = ${hash}
          and t.used_at is null and t.revoked_at is null and t.expires_at > ${at(now)}
          and not exists (
            select 1 from auth.refresh_tokens r where r.family_id = t.family_id and r.revoked_at is not null)
        returning t.family_id::text, t.user_id, t.tenant_id`);
      if (claimed) {
        await tx.query(sql.typeAlias('void')`
          insert into auth.refresh_tokens (id, family_id, user_id, tenant_id, token_hash, issued_at, expires_at)
          values (${next.tokenId}, ${claimed.family_id}, ${claimed.user_id}, ${claimed.tenant_id}, ${nextHash},
            ${at(now)}, ${at(next.expiresAt)})`);
        return {
          kind: 'rotated',
          rotated: {
            ...next,
            familyId: claimed.family_id,
            userId: claimed.user_id,
            tenantId: claimed.tenant_id,
          },
        };
      }

      const presented = await tx.maybeOne(sql.type(presentedRow)`
        select t.family_id::text, t.user_id, t.tenant_id,
          t.used_at is not null as used,
          (t.revoked_at is not null or exists (
            select 1 from auth.refresh_tokens r where r.family_id = t.family_id and r.revoked_at is not null))
            as revoked,
          coalesce(t.used_at >= ${at(now - reuseGraceSeconds * 1000)}, false) as used_recently
        from auth.refresh_tokens t where t.token_hash = ${hash}`);
      if (!presented) return { kind: 'unknown' };
      if (!presented.used && !presented.revoked) return { kind: 'expired' };
      if (reuseGraceSeconds > 0 && presented.used && presented.used_recently && !presented.revoked) {
        return { kind: 'rotatedRecently' };
      }
      await tx.query(sql.typeAlias('void')`
        update auth.refresh_tokens set revoked_at = ${at(now)}
        where family_id = ${presented.family_id} and revoked_at is null`);
      return {
        kind: 'reused',
        reuse: {
          familyId: presented.family_id,
          userId: presented.user_id,
          tenantId: presented.tenant_id,
          reason: presented.used ? 'used' : 'revoked',
        },
      };
    });

    // Thrown only after the transaction committed: the family's revocation must stick.
    switch (outcome.kind) {
      case 'rotated':
        return outcome.rotated;
      case 'unknown':
        throw new UnauthenticatedError('refresh token is not valid');
      case 'expired':
        throw new UnauthenticatedError('refresh token has expired');
      case 'rotatedRecently':
        throw new UnauthenticatedError('refresh token was already rotated');
      case 'reused':
        credentialChanges?.changed();
        onReuseDetected?.(outcome.reuse);
        throw new UnauthenticatedError(
          'refresh token reuse detected; the session has been revoked, sign in again',
        );
      default: {
        const unexpected: never = outcome;
        throw new Error(`unexpected rotation outcome ${JSON.stringify(unexpected)}`);
      }
    }
  }

  async function revoke(token: string): Promise<boolean> {
    if (!tokenPattern.test(token)) return false;
    const { found } = await pool.one(sql.type(foundRow)`
      with target as (
        select family_id from auth.refresh_tokens where token_hash = ${hashRefreshToken(token)}
      ), revoked as (
        update auth.refresh_tokens set revoked_at = ${at(clock())}
        where family_id in (select family_id from target) and revoked_at is null
        returning 1
      )
      select exists (select 1 from target) as found`);
    if (found) credentialChanges?.changed();
    return found;
  }

  async function revokeAllForUser(userId: string): Promise<number> {
    const result = await pool.query(sql.typeAlias('void')`
      update auth.refresh_tokens set revoked_at = ${at(clock())}
      where user_id = ${userId} and revoked_at is null`);
    if (result.rowCount > 0) credentialChanges?.changed();
    return result.rowCount;
  }

  async function purgeExpired(): Promise<number> {
    // Whole families only: a family's revocation mark may sit on its oldest row, and deleting
    // that row alone would bring its newer tokens back to life.
    const { count } = await pool.one(sql.type(countRow)`
      with deleted as (
        delete from auth.refresh_tokens
        where family_id in (
          select family_id from auth.refresh_tokens group by family_id having max(expires_at) <= ${at(clock())})
        returning 1
      )
      select count(*)::int8 as count from deleted`);
    return count;
  }

  return { issue, rotate, revoke, revokeAllForUser, purgeExpired };
}
