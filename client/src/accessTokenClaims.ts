/** The claims of a DeepLens access token that a client needs: who it is and until when. */
export type AccessTokenClaims = {
  sub: string;
  tenantId: string | null;
  role: string;
  scopes: string[];
  /** Expiry, epoch milliseconds. */
  expiresAt: number;
};

/**
 * Reads a JWT's payload **without verifying it**: only the servers verify tokens. The client
 * reads its own token to know its tenant and when to refresh, nothing else.
 */
export function readAccessTokenClaims(token: string): AccessTokenClaims | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null) return undefined;
  const { sub, tenant_id: tenantId, role, scope, exp } = claims;
  if (typeof sub !== 'string' || typeof exp !== 'number') return undefined;
  return {
    sub,
    tenantId: typeof tenantId === 'string' ? tenantId : null,
    role: typeof role === 'string' ? role : '',
    scopes: typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [],
    expiresAt: exp * 1000,
  };
}
