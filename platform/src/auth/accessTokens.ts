import { randomUUID, type KeyObject } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { z } from 'zod';
import { UnauthenticatedError, UnavailableError } from '../errors.ts';
import { isRole, roles, type Principal, type PrincipalActor, type Role } from './principal.ts';
import {
  publicJwkOf,
  signingAlgorithmOf,
  toPrivateSigningKey,
  toPublicSigningKey,
  type PublicJwk,
  type SigningAlgorithm,
} from './signingKey.ts';

/**
 * Short-lived access tokens: JWTs signed with an asymmetric key, in the style of RFC 9068
 * (`typ: at+jwt`, so no other JWT of ours, or of anyone sharing the key, passes as one).
 *
 * Claims: `iss`, `aud`, `sub` (the user or API key id), `actor` (`user:<id>` | `apikey:<id>`),
 * `tenant_id` (null for platform admins), `role`, `scope` (space-separated, as OAuth writes
 * it), `jti`, `iat`, `nbf`, `exp`, and `sid` (the sign-in session, so a logout ends the access
 * tokens of that session too) when the token comes from a password sign-in or a refresh.
 */
const tokenType = 'at+jwt';
/** Real tokens are a few hundred bytes; anything far larger is refused before parsing. */
const maxTokenLength = 8192;
// RFC 6749 §3.3: a scope token is printable ASCII without space, quote or backslash.
const scopeTokenPattern = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What an access token says about its bearer. */
export type AccessTokenSubject = {
  actor: PrincipalActor;
  /** Defaults to the id in `actor`; must equal it when given. */
  sub?: string;
  tenantId: string | null;
  role: Role;
  scopes: string[];
  /** The sign-in session (refresh token family) the token belongs to: a UUID. */
  sessionId?: string;
  /**
   * Epoch milliseconds the token must not outlive (an API key's `expiresAt`): `exp` is the
   * earlier of this and the usual lifetime.
   */
  notAfter?: number | null;
};

export type IssuedAccessToken = {
  accessToken: string;
  tokenType: 'Bearer';
  /** Seconds, as the token endpoint's `expires_in`. */
  expiresIn: number;
  /** Epoch milliseconds. */
  expiresAt: number;
};

export type TokenIssuerOptions = {
  /** PKCS#8 PEM (e.g. `JWT_PRIVATE_KEY`) or a KeyObject; Ed25519 or P-256. */
  privateKey: KeyObject | string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /** Defaults to the key's RFC 7638 thumbprint. */
  kid?: string;
  /** Epoch milliseconds. */
  clock?: () => number;
};

export type TokenIssuer = {
  issue(subject: AccessTokenSubject): Promise<IssuedAccessToken>;
  /** The body of `GET /.well-known/jwks.json`. */
  publicJwks(): { keys: PublicJwk[] };
  readonly publicKey: KeyObject;
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
};

/** Signs access tokens; the composition root of the write API makes one. */
export function createTokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  const { issuer, audience, ttlSeconds, clock = Date.now } = options;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new Error(`an access token lifetime is a positive number of seconds, not ${ttlSeconds}`);
  }
  const privateKey = toPrivateSigningKey(options.privateKey);
  const algorithm = signingAlgorithmOf(privateKey);
  const publicKey = toPublicSigningKey(privateKey);
  const jwk = publicJwkOf(publicKey, options.kid);

  return {
    publicKey,
    kid: jwk.kid,
    algorithm,
    publicJwks: () => ({ keys: [jwk] }),
    async issue(subject) {
      const { sub, scopes } = checkSubject(subject);
      const now = Math.floor(clock() / 1000);
      const cap = subject.notAfter == null ? Infinity : Math.floor(subject.notAfter / 1000);
      const exp = Math.min(now + ttlSeconds, cap);
      if (exp <= now) throw new Error('an access token cannot be issued past its notAfter');
      const accessToken = await new SignJWT({
        actor: subject.actor,
        tenant_id: subject.tenantId,
        role: subject.role,
        scope: scopes.join(' '),
        ...(subject.sessionId === undefined ? {} : { sid: subject.sessionId }),
      })
        .setProtectedHeader({ alg: algorithm, typ: tokenType, kid: jwk.kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(sub)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(exp)
        .sign(privateKey);
      return { accessToken, tokenType: 'Bearer', expiresIn: exp - now, expiresAt: exp * 1000 };
    },
  };
}

/** An issuer bug must fail at issue time, not surface later as a puzzling 401. */
function checkSubject(subject: AccessTokenSubject): { sub: string; scopes: string[] } {
  const id = idOfActor(subject.actor);
  if (id === undefined) throw new Error(`not a user or API key actor: ${subject.actor}`);
  if (subject.sub !== undefined && subject.sub !== id) {
    throw new Error(`sub ${subject.sub} is not the id of actor ${subject.actor}`);
  }
  if (!isRole(subject.role)) throw new Error(`unknown role ${String(subject.role)}`);
  if ((subject.role === 'platform_admin') !== (subject.tenantId === null)) {
    throw new Error('a platform admin has no tenant; every other role has one');
  }
  const bad = subject.scopes.find((s) => !scopeTokenPattern.test(s));
  if (bad !== undefined) throw new Error(`not a valid scope: ${JSON.stringify(bad)}`);
  if (subject.sessionId !== undefined && !uuidPattern.test(subject.sessionId)) {
    throw new Error(`a session id is a UUID, not ${subject.sessionId}`);
  }
  // A scope listed twice means nothing more; the token carries each once.
  return { sub: id, scopes: [...new Set(subject.scopes)] };
}

function idOfActor(actor: string): string | undefined {
  const match = /^(?:user|apikey):(.+)$/.exec(actor);
  return match?.[1];
}

/** Where a verifier gets the public keys: the issuer's JWKS, a single key, or a JWKS URL. */
export type VerificationKeys =
  | { jwks: JSONWebKeySet }
  | { publicKey: KeyObject | string }
  /** Fetched on first use and when an unknown `kid` shows up (key rotation), then cached. */
  | { jwksUrl: URL | string };

export type TokenVerifierOptions = VerificationKeys & {
  issuer: string;
  audience: string;
  /** Epoch milliseconds. */
  clock?: () => number;
  /** Allowed clock skew between issuer and verifier for `exp` and `nbf`; 5 seconds by default. */
  clockToleranceSeconds?: number;
};

export type TokenVerifier = {
  /**
   * The principal of a valid access token. Anything else (unsigned `alg: none`, another
   * algorithm, a forged signature, another issuer or audience, expired, not yet valid,
   * issued in the future, missing or malformed claims) throws `UnauthenticatedError` saying
   * which. Only an
   * unreachable remote JWKS throws `UnavailableError`, since the token may well be valid.
   */
  verify(token: string): Promise<Principal>;
};

const claimsSchema = z.object({
  sub: z.string().min(1),
  actor: z.string().regex(/^(?:user|apikey):.+$/),
  tenant_id: z.string().min(1).nullable(),
  role: z.enum(roles),
  scope: z.string(),
  iat: z.number(),
  sid: z.string().regex(uuidPattern).optional(),
});

/** Verifies access tokens; both APIs' composition roots make one. */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const { issuer, audience, clock = Date.now, clockToleranceSeconds = 5 } = options;
  let key: KeyObject | JWTVerifyGetKey;
  let algorithms: SigningAlgorithm[];
  if ('publicKey' in options) {
    key = toPublicSigningKey(options.publicKey);
    // Pinning the algorithm to the key's own is what defeats algorithm-confusion attacks.
    algorithms = [signingAlgorithmOf(key)];
  } else {
    key = 'jwks' in options ? createLocalJWKSet(options.jwks) : remoteKeys(new URL(options.jwksUrl));
    algorithms = ['EdDSA', 'ES256'];
  }

  return {
    async verify(token) {
      if (token.length > maxTokenLength) throw new UnauthenticatedError('access token is too long');
      let payload: unknown;
      try {
        const verifyOptions = {
          algorithms,
          issuer,
          audience,
          typ: tokenType,
          currentDate: new Date(clock()),
          clockTolerance: clockToleranceSeconds,
          requiredClaims: ['sub', 'exp', 'iat', 'jti', 'actor', 'role', 'tenant_id', 'scope'],
        };
        ({ payload } =
          typeof key === 'function'
            ? await jwtVerify(token, key, verifyOptions)
            : await jwtVerify(token, key, verifyOptions));
      } catch (error) {
        throw verificationError(error);
      }
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) {
        const names = [...new Set(claims.error.issues.map((i) => i.path.join('.')))];
        throw new UnauthenticatedError(`access token has invalid claims: ${names.join(', ')}`);
      }
      const { sub, actor, tenant_id: tenantId, role, scope, iat, sid } = claims.data;
      // jose checks iat only against a maximum age; a token "issued" later than now was not.
      if (iat > clock() / 1000 + clockToleranceSeconds) {
        throw new UnauthenticatedError('access token was issued in the future');
      }
      if (idOfActor(actor) !== sub)
        throw new UnauthenticatedError('access token sub does not match its actor');
      if ((role === 'platform_admin') !== (tenantId === null)) {
        throw new UnauthenticatedError('access token role does not fit its tenant');
      }
      const principalActor = actor as PrincipalActor;
      return {
        actor: principalActor,
        ...(principalActor.startsWith('user:') ? { userId: sub } : { keyId: sub }),
        tenantId,
        role,
        scopes: scope === '' ? [] : [...new Set(scope.split(' '))],
        ...(sid === undefined ? {} : { sessionId: sid }),
      };
    },
  };
}

function verificationError(error: unknown): Error {
  const fail = (message: string) => new UnauthenticatedError(message, { cause: error });
  if (error instanceof errors.JWTExpired) return fail('access token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return fail('access token was issued by someone else');
      case 'aud':
        return fail('access token is meant for another audience');
      case 'nbf':
      case 'iat':
        return fail('access token is not valid yet');
      case 'typ':
        return fail('token is not an access token');
      default:
        return error.reason === 'missing'
          ? fail(`access token lacks the "${error.claim}" claim`)
          : fail(`access token has an invalid "${error.claim}" claim`);
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return fail('access token algorithm is not accepted');
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return fail('access token signature is invalid');
  if (error instanceof errors.JWKSNoMatchingKey) return fail('access token was signed with an unknown key');
  if (error instanceof UnavailableError) return error;
  if (error instanceof errors.JOSEError) return fail('access token is malformed');
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * A JWKS fetched from the issuer. A fetch that fails, times out or answers junk is our outage,
 * not the caller's bad token, so it surfaces as `UnavailableError` (503, retriable).
 */
function remoteKeys(url: URL): JWTVerifyGetKey {
  const keys = createRemoteJWKSet(url, { timeoutDuration: 5_000 });
  return async (header, token) => {
    try {
      return await keys(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
        throw error;
      }
      throw new UnavailableError('the token signing keys could not be fetched', { cause: error });
    }
  };
}
