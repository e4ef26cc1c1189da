import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { findApiKeyByPrefix } from '@deeplens/commands/apiKeyLookup';
import { userDecider } from '@deeplens/commands/identity/userDecider';
import type { RegisteredUser } from '@deeplens/commands/identity/userState';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import { apiKeyAggregate, userAggregate } from '@deeplens/commands/writeModelRules';
import { userIdByEmail } from '@deeplens/commands/writeModelQueries';
import { generateApiKey, parseApiKey, verifyApiKeySecret } from '@deeplens/platform/auth/apiKeys';
import { hashPassword, verifyPassword } from '@deeplens/platform/auth/passwords';
import type { Principal, Role } from '@deeplens/platform/auth/principal';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '@deeplens/platform/errors';
import { requireRole, tenantScope } from '@deeplens/platform/http/authenticate';
import { deterministicUuid, randomUUID } from '@deeplens/platform/ids';
import { commandOrigin, commandOriginAnswering } from '../commandOrigin.ts';
import {
  bodyOf,
  commandProblems,
  idempotencyKeyParameter,
  jsonContent,
  jsonRequest,
  locationHeader,
} from './commandContract.ts';
import { defineRoute, paramsOf, uuidPathParameter } from '@deeplens/platform/http/openApiRegistry';
import { jsonBody } from '@deeplens/platform/http/requestBody';
import type { WriteApiDependencies } from '../writeApiDependencies.ts';
import type { WriteApiEnv } from '../writeApiEnv.ts';

/** What a principal may do, by role; an API key carries its own scopes instead. */
export const scopesOfRole: Record<Role, string[]> = {
  platform_admin: ['platform:admin', 'tenants:write', 'images:read', 'images:write', 'search'],
  tenant_admin: ['tenant:admin', 'images:read', 'images:write', 'search'],
  tenant_user: ['images:read', 'images:write', 'search'],
};
export const apiKeyScopes = ['images:read', 'images:write', 'search'] as const;

const tokenBody = z.discriminatedUnion('grant_type', [
  z
    .object({
      grant_type: z.literal('password'),
      email: z.string().email().max(320),
      password: z.string().min(1).max(1024),
    })
    .strict(),
  z.object({ grant_type: z.literal('api_key'), api_key: z.string().min(1).max(256) }).strict(),
]);
const refreshBody = z.object({ refresh_token: z.string().min(1).max(256) }).strict();
const role = z.enum(['platform_admin', 'tenant_admin', 'tenant_user']);
const userBody = z
  .object({
    email: z.string().email().max(320),
    password: z.string().min(12).max(1024),
    role,
    tenantId: z.guid().nullable().optional(),
  })
  .strict();
const apiKeyScope = z.enum(apiKeyScopes);
const apiKeyBody = z
  .object({
    name: z.string().trim().max(200).default(''),
    // Listed twice means granted once: collapsed, then counted.
    scopes: z
      .array(apiKeyScope)
      .min(1)
      .max(4 * apiKeyScopes.length)
      .transform((scopes) => [...new Set(scopes)]),
    expiresAt: z.string().datetime().optional(),
  })
  .strict();

const tokensAnswer = z
  .object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().openapi({ description: 'Seconds the access token is valid for' }),
    refresh_token: z
      .string()
      .optional()
      .openapi({ description: 'Only for a password sign-in; an API key simply signs in again' }),
  })
  .strict()
  .openapi('Tokens');
const jwksAnswer = z
  .object({ keys: z.array(z.object({ kty: z.string(), kid: z.string(), alg: z.string() }).passthrough()) })
  .strict()
  .openapi('Jwks');
const userAnswer = z
  .object({
    id: z.guid(),
    email: z.string(),
    role,
    tenantId: z.guid().nullable(),
  })
  .strict()
  .openapi('User');
const issuedApiKeyAnswer = z
  .object({
    id: z.guid(),
    name: z.string(),
    prefix: z.string(),
    secret: z.string().openapi({ description: 'The whole key: shown once, never retrievable again' }),
    scopes: z.array(apiKeyScope),
    expiresAt: z.string().datetime().nullable(),
  })
  .strict()
  .openapi('IssuedApiKey');

const tenantIdParams = z.object({ id: uuidPathParameter });
const apiKeyParams = z.object({ id: uuidPathParameter, keyId: uuidPathParameter });

/** Sign-in, sessions, users and API keys: what each route takes and answers. */
export const identityContract = {
  signIn: defineRoute({
    method: 'post',
    path: '/v1/auth/token',
    summary: 'Sign in with a password or exchange an API key for an access token',
    security: [],
    request: { body: jsonRequest(tokenBody) },
    responses: { 200: { description: 'Tokens', ...jsonContent(tokensAnswer) }, ...commandProblems },
  }),
  refresh: defineRoute({
    method: 'post',
    path: '/v1/auth/refresh',
    summary: 'Rotate a refresh token (reuse revokes the whole session)',
    security: [],
    request: { body: jsonRequest(refreshBody) },
    responses: { 200: { description: 'Tokens', ...jsonContent(tokensAnswer) }, ...commandProblems },
  }),
  logout: defineRoute({
    method: 'post',
    path: '/v1/auth/logout',
    summary: 'End a session',
    security: [],
    request: { body: jsonRequest(refreshBody) },
    responses: { 204: { description: 'Signed out' }, ...commandProblems },
  }),
  jwks: defineRoute({
    method: 'get',
    path: '/.well-known/jwks.json',
    summary: 'Public keys that verify access tokens',
    security: [],
    responses: { 200: { description: 'JWKS', ...jsonContent(jwksAnswer) } },
  }),
  createUser: defineRoute({
    method: 'post',
    path: '/v1/users',
    summary: 'Create a user (platform admin: any; tenant admin: own tenant)',
    parameters: [idempotencyKeyParameter],
    request: { body: jsonRequest(userBody) },
    responses: {
      201: { description: 'Created', headers: locationHeader, ...jsonContent(userAnswer) },
      ...commandProblems,
    },
  }),
  issueApiKey: defineRoute({
    method: 'post',
    path: '/v1/tenants/{id}/api-keys',
    summary: 'Issue an API key; the secret is shown once',
    parameters: [idempotencyKeyParameter],
    request: { params: tenantIdParams, body: jsonRequest(apiKeyBody) },
    responses: {
      201: { description: 'Issued', headers: locationHeader, ...jsonContent(issuedApiKeyAnswer) },
      ...commandProblems,
    },
  }),
  revokeApiKey: defineRoute({
    method: 'delete',
    path: '/v1/tenants/{id}/api-keys/{keyId}',
    summary: 'Revoke an API key',
    parameters: [idempotencyKeyParameter],
    request: { params: apiKeyParams },
    responses: { 204: { description: 'Revoked' }, ...commandProblems },
  }),
};

/** The peer's address as the socket saw it (`direct` outside a Node server, e.g. in `app.request`). */
function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'direct';
  } catch {
    return 'direct';
  }
}

/** Sign-in, sessions, users and API keys. */
export function identityRoutes(deps: WriteApiDependencies) {
  const { handler, pool, issuer, refreshTokens, signInThrottle, clock } = deps;
  const app = new Hono<WriteApiEnv>();

  async function userByEmail(email: string): Promise<RegisteredUser | undefined> {
    const found = await userIdByEmail(pool, email.toLowerCase());
    if (!found) return undefined;
    const state = await handler.load(userDecider, found);
    return state.status === 'initial' ? undefined : state;
  }

  /** A user may sign in while active and while their tenant (if any) is active. */
  async function assertMaySignIn(user: RegisteredUser | undefined): Promise<RegisteredUser> {
    if (!user || user.status !== 'active') throw new UnauthenticatedError('invalid credentials');
    if (user.tenantId) {
      const tenant = await handler.load(tenantDecider, user.tenantId);
      if (tenant.status !== 'active') throw new UnauthenticatedError('invalid credentials');
    }
    return user;
  }

  function subjectOf(user: RegisteredUser, sessionId: string) {
    return {
      actor: `user:${user.userId}` as const,
      tenantId: user.tenantId,
      role: user.role,
      scopes: scopesOfRole[user.role],
      sessionId,
    };
  }

  app.post('/v1/auth/token', async (c) => {
    const body = await jsonBody(c, bodyOf(identityContract.signIn));
    // X-Forwarded-For is anyone's to write: only a configured proxy's word is taken for it.
    const forwarded = deps.config.TRUST_PROXY
      ? c.req.header('x-forwarded-for')?.split(',')[0]?.trim()
      : undefined;
    const address = forwarded ?? clientAddress(c);
    c.header('Cache-Control', 'no-store');
    const byAddress = `sign-in:address:${address}`;
    if (body.grant_type === 'password') {
      const email = body.email.toLowerCase();
      // Never by account alone: guesses from elsewhere must not lock the owner out.
      const byPair = `sign-in:account:${email}:address:${address}`;
      await signInThrottle.attempt([byPair, byAddress]);
      const user = await userByEmail(email);
      // Verified even for an unknown account, so the answer takes as long either way.
      const valid = await verifyPassword(user?.passwordHash, body.password);
      const allowed = await assertMaySignIn(valid ? user : undefined);
      await signInThrottle.succeeded({ forget: [byPair], refund: [byAddress] });
      const refresh = await refreshTokens.issue(allowed.userId, allowed.tenantId);
      const access = await issuer.issue(subjectOf(allowed, refresh.familyId));
      return c.json({
        access_token: access.accessToken,
        token_type: 'Bearer',
        expires_in: access.expiresIn,
        refresh_token: refresh.token,
      } satisfies z.input<typeof tokensAnswer>);
    }
    await signInThrottle.attempt([byAddress]);
    const prefix = parseApiKey(body.api_key);
    const key = prefix ? await findApiKeyByPrefix(pool, prefix) : undefined;
    const valid =
      key !== undefined &&
      key.status === 'active' &&
      // A key in its last second could only get a token that is already expired.
      (key.expiresAt === null || key.expiresAt > clock() + 1000) &&
      verifyApiKeySecret(body.api_key, key.secretHash) &&
      (await handler.load(tenantDecider, key.tenantId)).status === 'active';
    if (!valid || !key) throw new UnauthenticatedError('invalid credentials');
    await signInThrottle.succeeded({ forget: [], refund: [byAddress] });
    const access = await issuer.issue({
      actor: `apikey:${key.keyId}`,
      tenantId: key.tenantId,
      role: 'tenant_user',
      scopes: key.scopes,
      // The token ends when the key does, never later.
      notAfter: key.expiresAt,
    });
    return c.json({
      access_token: access.accessToken,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
    } satisfies z.input<typeof tokensAnswer>);
  });

  app.post('/v1/auth/refresh', async (c) => {
    c.header('Cache-Control', 'no-store');
    const body = await jsonBody(c, bodyOf(identityContract.refresh));
    const rotated = await refreshTokens.rotate(body.refresh_token);
    const state = await handler.load(userDecider, rotated.userId);
    const user = await assertMaySignIn(state.status === 'initial' ? undefined : state).catch(
      async (error: unknown) => {
        await refreshTokens.revoke(rotated.token);
        throw error;
      },
    );
    const access = await issuer.issue(subjectOf(user, rotated.familyId));
    return c.json({
      access_token: access.accessToken,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: rotated.token,
    } satisfies z.input<typeof tokensAnswer>);
  });

  app.post('/v1/auth/logout', async (c) => {
    const body = await jsonBody(c, bodyOf(identityContract.logout));
    await refreshTokens.revoke(body.refresh_token);
    return c.body(null, 204);
  });

  app.get('/.well-known/jwks.json', (c) => c.json(issuer.publicJwks() satisfies z.input<typeof jwksAnswer>));

  const secured = new Hono<WriteApiEnv>();

  secured.post('/v1/users', requireRole('platform_admin', 'tenant_admin'), async (c) => {
    const body = await jsonBody(c, bodyOf(identityContract.createUser));
    const principal: Principal = c.get('principal');
    const tenantId = principal.role === 'platform_admin' ? (body.tenantId ?? null) : principal.tenantId;
    if (
      principal.role !== 'platform_admin' &&
      (body.role === 'platform_admin' || (body.tenantId && body.tenantId !== principal.tenantId))
    ) {
      throw new ForbiddenError('a tenant admin creates users of their own tenant only');
    }
    if ((body.role === 'platform_admin') !== (tenantId === null)) {
      throw new ValidationError('platform admins belong to no tenant; every other user belongs to one', {
        detail: { role: body.role, tenantId },
      });
    }
    if (tenantId) {
      const tenant = await handler.load(tenantDecider, tenantId);
      if (tenant.status === 'initial' || tenant.status === 'deleted')
        throw new NotFoundError(`no tenant ${tenantId}`);
    }
    const key = c.get('idempotencyKey');
    const userId = key ? deterministicUuid('user', principal.actor, key) : randomUUID();
    const email = body.email.toLowerCase();
    /**
     * E-mails are unique platform-wide, but whether one has an account in ANOTHER tenant is not
     * a tenant admin's to learn: to them such a conflict looks like success (201, nothing
     * recorded; the address simply cannot sign in here). Within their own tenant it is a 409.
     */
    const takenElsewhere = async () => {
      if (principal.role === 'platform_admin') return false;
      const holder = await userByEmail(email);
      return holder !== undefined && holder.tenantId !== tenantId;
    };
    if (await takenElsewhere()) {
      deps.log.info('user not registered: the e-mail belongs to another tenant', { tenantId });
    } else {
      try {
        await handler.handle(
          userAggregate,
          {
            type: 'RegisterUser',
            data: {
              userId,
              tenantId,
              email,
              passwordHash: await hashPassword(body.password),
              role: body.role,
            },
          },
          commandOrigin(c),
        );
      } catch (error) {
        // Taken by another tenant between the check and the write.
        if (!(error instanceof ConflictError && (await takenElsewhere()))) throw error;
      }
    }
    c.header('location', `/v1/users/${userId}`);
    return c.json({ id: userId, email, role: body.role, tenantId } satisfies z.input<typeof userAnswer>, 201);
  });

  secured.post('/v1/tenants/:id/api-keys', requireRole('platform_admin', 'tenant_admin'), async (c) => {
    const { id: tenantId } = paramsOf(c, identityContract.issueApiKey.request.params);
    tenantScope(c, tenantId);
    const body = await jsonBody(c, bodyOf(identityContract.issueApiKey));
    const tenant = await handler.load(tenantDecider, tenantId);
    if (tenant.status === 'initial' || tenant.status === 'deleted')
      throw new NotFoundError(`no tenant ${tenantId}`);
    const expiresAt = body.expiresAt ? Date.parse(body.expiresAt) : null;
    if (expiresAt !== null && expiresAt <= clock())
      throw new ValidationError('expiresAt must be in the future', { detail: { expiresAt: body.expiresAt } });
    const generated = generateApiKey();
    const location = `/v1/tenants/${tenantId}/api-keys/${generated.keyId}`;
    const issued = {
      id: generated.keyId,
      name: body.name,
      prefix: generated.prefix,
      // Shown once: only its hash is kept (and, sealed, the answer to a retry of this request).
      secret: generated.secret,
      scopes: body.scopes,
      expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    } satisfies z.input<typeof issuedApiKeyAnswer>;
    const result = await handler.handle(
      apiKeyAggregate,
      {
        type: 'IssueApiKey',
        data: {
          keyId: generated.keyId,
          tenantId,
          name: body.name,
          prefix: generated.prefix,
          secretHash: generated.secretHash,
          scopes: body.scopes,
          expiresAt,
        },
      },
      // A re-run would draw another secret: the answer is kept with the key's issue.
      await commandOriginAnswering(c, { status: 201, body: issued, headers: { location } }),
    );
    // Another run of this request (one that took over a claim left a minute) issued the key
    // first: its answer is stored, this run's secret is no key's. A retry gets that answer.
    if (result.replayed)
      throw new ConflictError(
        'this Idempotency-Key already issued a key whose answer this run cannot repeat: retry for the stored answer, or issue another key under a new Idempotency-Key',
      );
    c.header('location', location);
    return c.json(issued, 201);
  });

  secured.delete(
    '/v1/tenants/:id/api-keys/:keyId',
    requireRole('platform_admin', 'tenant_admin'),
    async (c) => {
      const { id: tenantId, keyId } = paramsOf(c, identityContract.revokeApiKey.request.params);
      tenantScope(c, tenantId);
      await handler.handle(
        apiKeyAggregate,
        { type: 'RevokeApiKey', data: { keyId, tenantId } },
        commandOrigin(c),
      );
      return c.body(null, 204);
    },
  );

  return { publicRoutes: app, securedRoutes: secured };
}
