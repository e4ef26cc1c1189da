import type { Context, MiddlewareHandler } from 'hono';
import { parseApiKey, verifyApiKeySecret } from '../auth/apiKeys.ts';
import type { TokenVerifier } from '../auth/accessTokens.ts';
import type { Principal, Role } from '../auth/principal.ts';
import { ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError } from '../errors.ts';

/** The context variables `authenticate` sets; put them in your app's `Variables`. */
export type AuthVariables = { principal: Principal };
export type AuthEnv = { Variables: AuthVariables };

/**
 * An API key as the caller's read model knows it (from `ApiKeyIssued` / `ApiKeyRevoked`).
 * `secretHash` is the lower-case hex SHA-256 of the full token.
 */
export type ApiKeyRecord = {
  keyId: string;
  tenantId: string;
  secretHash: string;
  scopes: string[];
  /** Epoch milliseconds; null never expires. */
  expiresAt: number | null;
  revoked: boolean;
};

export type AuthenticateOptions = {
  verifier: Pick<TokenVerifier, 'verify'>;
  /**
   * Looks a key up by its 8-character prefix. Return undefined for an unknown prefix, and
   * for a key whose tenant is suspended or deleted if such keys should stop working.
   */
  resolveApiKey: (prefix: string) => Promise<ApiKeyRecord | undefined>;
  /**
   * Whether what an access token was issued for still stands (tenant active, user enabled with
   * the same role, key unrevoked and unexpired, session not logged out): throws
   * `UnauthenticatedError` when not. Access tokens are self-contained, so without this one
   * stays good until its `exp` whatever happens to its subject.
   */
  checkStanding?: (principal: Principal) => Promise<void>;
  /** Epoch milliseconds, for API key expiry. */
  clock?: () => number;
  /** The `realm` of the `WWW-Authenticate` challenges. `deeplens` by default. */
  realm?: string;
};

/** API keys act as tenant users, limited further by their scopes; admin work needs a person. */
const apiKeyRole: Role = 'tenant_user';

/**
 * Authenticates every request it guards, from exactly one of
 *   `Authorization: Bearer <access JWT>`, `Authorization: ApiKey <key>`, `X-API-Key: <key>`
 * (an API key sent as a Bearer token works too: many HTTP clients only speak Bearer), and
 * sets `c.var.principal`. Credentials in the query string are never read: they end up in logs.
 *
 * Missing or invalid credentials throw `UnauthenticatedError` (401) after setting a
 * `WWW-Authenticate` challenge (RFC 6750 `error="invalid_token"` when a JWT was refused);
 * an API key's revocation and expiry are only disclosed to a caller who holds its secret.
 */
export function authenticate(options: AuthenticateOptions): MiddlewareHandler<AuthEnv> {
  const { verifier, resolveApiKey, checkStanding, clock = Date.now, realm = 'deeplens' } = options;
  const challenge = (bearerError?: string) => {
    const bearer = bearerError
      ? `Bearer realm="${realm}", error="invalid_token", error_description="${bearerError.replace(/["\\]/g, '')}"`
      : `Bearer realm="${realm}"`;
    return `${bearer}, ApiKey realm="${realm}"`;
  };

  async function principalOfApiKey(token: string): Promise<Principal> {
    const prefix = parseApiKey(token);
    if (prefix === undefined) throw new UnauthenticatedError('API key is malformed');
    const key = await resolveApiKey(prefix);
    // Unknown prefix and wrong secret read the same, so prefixes cannot be probed.
    if (!key || !verifyApiKeySecret(token, key.secretHash)) {
      throw new UnauthenticatedError('API key is not valid');
    }
    if (key.revoked) throw new UnauthenticatedError('API key has been revoked');
    if (key.expiresAt !== null && key.expiresAt <= clock()) {
      throw new UnauthenticatedError('API key has expired');
    }
    return {
      actor: `apikey:${key.keyId}`,
      keyId: key.keyId,
      tenantId: key.tenantId,
      role: apiKeyRole,
      scopes: [...key.scopes],
    };
  }

  return async (c, next) => {
    const credential = credentialOf(c.req.header('Authorization'), c.req.header('X-API-Key'));
    if (credential.kind === 'none') {
      c.header('WWW-Authenticate', challenge());
      throw new UnauthenticatedError('this request needs an access token or an API key');
    }
    if (credential.kind === 'ambiguous') {
      throw new ValidationError('send one credential: Authorization or X-API-Key, not both');
    }
    if (credential.kind === 'unsupported') {
      c.header('WWW-Authenticate', challenge());
      throw new UnauthenticatedError('the Authorization scheme must be Bearer or ApiKey');
    }
    let principal: Principal;
    try {
      if (credential.kind === 'apiKey') principal = await principalOfApiKey(credential.value);
      else {
        principal = await verifier.verify(credential.value);
        await checkStanding?.(principal);
      }
    } catch (error) {
      if (error instanceof UnauthenticatedError) {
        c.header('WWW-Authenticate', challenge(credential.kind === 'bearer' ? error.message : undefined));
      }
      throw error;
    }
    c.set('principal', principal);
    await next();
  };
}

type Credential =
  | { kind: 'none' }
  | { kind: 'ambiguous' }
  | { kind: 'unsupported' }
  | { kind: 'bearer'; value: string }
  | { kind: 'apiKey'; value: string };

function credentialOf(authorization: string | undefined, apiKeyHeader: string | undefined): Credential {
  const apiKey = apiKeyHeader?.trim();
  const auth = authorization?.trim();
  if (auth && apiKey) return { kind: 'ambiguous' };
  if (apiKey) return { kind: 'apiKey', value: apiKey };
  if (!auth) return { kind: 'none' };
  const match = /^(\S+)\s+(\S+)$/.exec(auth);
  if (!match) return { kind: 'unsupported' };
  const scheme = match[1]!.toLowerCase();
  const value = match[2]!;
  if (scheme === 'apikey') return { kind: 'apiKey', value };
  if (scheme === 'bearer') return { kind: value.startsWith('dl_') ? 'apiKey' : 'bearer', value };
  return { kind: 'unsupported' };
}

/**
 * The authenticated principal. Throws (a 500, a wiring bug) when `authenticate` does not guard
 * this route, rather than letting a handler run as nobody.
 */
export function principalOf<E extends AuthEnv>(c: Context<E>): Principal {
  const principal: Principal | undefined = c.get('principal');
  if (!principal) throw new Error('no principal: mount authenticate() before this route');
  return principal;
}

/** Lets only the given roles through; others get 403. */
export function requireRole(...roles: Role[]): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const { role } = principalOf(c);
    if (!roles.includes(role)) {
      throw new ForbiddenError(`this needs the role ${roles.join(' or ')}`, {
        detail: { requiredRoles: roles },
      });
    }
    await next();
  };
}

/** Lets only principals holding `scope` through; others get 403 (`insufficient_scope`). */
export function requireScope(scope: string): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    if (!principalOf(c).scopes.includes(scope)) {
      c.header('WWW-Authenticate', `Bearer error="insufficient_scope", scope="${scope}"`);
      throw new ForbiddenError(`this needs the scope ${scope}`, { detail: { requiredScope: scope } });
    }
    await next();
  };
}

/**
 * The same error whether a tenant does not exist or belongs to someone else: use it for the
 * real "no such tenant" too, so the two answers cannot be told apart.
 */
export function tenantNotFound(tenantId: string): NotFoundError {
  return new NotFoundError(`tenant ${tenantId} not found`);
}

/**
 * The tenant a request may act on. With a tenant id from the path: that id, if the caller
 * belongs to it or is a platform admin; otherwise 404 (never 403, so another tenant's
 * existence does not leak). Without one: the caller's own tenant; a platform admin, who has
 * none, gets 400 and must use a route that names the tenant.
 */
export function tenantScope<E extends AuthEnv>(c: Context<E>, tenantIdFromPath?: string): string {
  const principal = principalOf(c);
  if (principal.role === 'platform_admin') {
    if (tenantIdFromPath === undefined) {
      throw new ValidationError('a platform admin acts on a tenant named in the path');
    }
    return tenantIdFromPath;
  }
  if (principal.tenantId === null) throw new Error(`${principal.actor} has no tenant`);
  if (tenantIdFromPath !== undefined && tenantIdFromPath !== principal.tenantId) {
    throw tenantNotFound(tenantIdFromPath);
  }
  return principal.tenantId;
}
