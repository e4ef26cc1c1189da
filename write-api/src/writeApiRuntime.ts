import { join } from 'node:path';
import { createCommandHandler, writeModelMigrations } from '@deeplens/commands/commandHandler';
import { createRefreshTokenStore } from '@deeplens/commands/identity/refreshTokens';
import { userIdByEmail } from '@deeplens/commands/writeModelQueries';
import { userAggregate } from '@deeplens/commands/writeModelRules';
import { createTokenIssuer, createTokenVerifier } from '@deeplens/platform/auth/accessTokens';
import { hashPassword } from '@deeplens/platform/auth/passwords';
import { createSignInThrottle } from '@deeplens/platform/auth/signInThrottle';
import { loadOrCreateSigningKey } from '@deeplens/platform/auth/signingKey';
import type { Config } from '@deeplens/platform/config';
import { createDatabasePool } from '@deeplens/platform/database';
import { deterministicUuid } from '@deeplens/platform/ids';
import type { Logger } from '@deeplens/platform/logger';
import { runMigrations, runPlatformMigrations } from '@deeplens/platform/migrations';
import { createObjectStore } from '@deeplens/platform/objectStore';
import { secretBoxFor } from '@deeplens/platform/secrets';
import type { WriteApiDependencies } from './writeApiDependencies.ts';

/**
 * The write API's own migrations: the `auth` schema, and the stored answers it kept until they
 * moved to the write model's idempotency keys (`003_request_answers_moved.sql`).
 */
export const writeApiMigrations = join(import.meta.dirname, '..', 'migrations');

/** Everything the write API needs, from configuration: what `main.ts` and the e2e tests both use. */
export async function createWriteApiDependencies(config: Config, log: Logger): Promise<WriteApiDependencies> {
  // Sign-in throttle and rate-limit buckets.
  await runPlatformMigrations(config.DATABASE_URL);
  await runMigrations(config.DATABASE_URL, 'write-model', writeModelMigrations);
  await runMigrations(config.DATABASE_URL, 'write-api', writeApiMigrations);
  const pool = await createDatabasePool(config);
  const privateKey =
    config.JWT_PRIVATE_KEY ??
    (await loadOrCreateSigningKey(join(config.SECRETS_DIR, 'access-token-signing.pem')));
  const issuer = createTokenIssuer({
    privateKey,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.JWT_ACCESS_TTL_SECONDS,
  });
  const verifier = createTokenVerifier({
    publicKey: issuer.publicKey,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });
  const secrets = await secretBoxFor(config);
  const handler = createCommandHandler({ pool });
  return {
    config,
    pool,
    handler,
    objects: createObjectStore(config),
    issuer,
    verifier,
    refreshTokens: createRefreshTokenStore(pool, {
      credentialChanges: handler.credentialChanges,
      onReuseDetected: (reuse) =>
        log.warn('refresh token reuse detected; session revoked', {
          userId: reuse.userId,
          tenantId: reuse.tenantId,
          familyId: reuse.familyId,
        }),
    }),
    signInThrottle: createSignInThrottle(pool, { freeAttempts: config.SIGN_IN_ATTEMPTS_PER_MINUTE }),
    secrets,
    log,
    clock: Date.now,
  };
}

/**
 * Creates the first platform admin (the only way in on a fresh install; there is no default
 * password). Idempotent: an existing account with that e-mail is left alone.
 */
export async function ensurePlatformAdmin(
  deps: Pick<WriteApiDependencies, 'handler' | 'pool'>,
  email: string,
  password: string,
): Promise<'created' | 'exists'> {
  const normalised = email.toLowerCase();
  if ((await userIdByEmail(deps.pool, normalised)) !== null) return 'exists';
  await deps.handler.handle(
    userAggregate,
    {
      type: 'RegisterUser',
      data: {
        userId: deterministicUuid('bootstrap-admin', normalised),
        tenantId: null,
        email: normalised,
        passwordHash: await hashPassword(password),
        role: 'platform_admin',
      },
    },
    { actor: 'system:bootstrap', idempotency: { scope: 'bootstrap', key: normalised } },
  );
  return 'created';
}
