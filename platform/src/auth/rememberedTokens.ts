import { decodeJwt } from 'jose';
import type { TokenVerifier } from './accessTokens.ts';
import type { Principal } from './principal.ts';

type Remembered = { principal: Principal; expiresAt: number };

/**
 * A token verifier that remembers the access tokens it accepted, by their exact text, until
 * they expire: a client sends the same token for every request of its lifetime, and checking
 * its signature again (0.6 ms of a 4 ms search in `bench/searchHttp.ts`) proves nothing new.
 * Only acceptances are remembered and `exp` is checked at every use, so a token is refused from
 * its expiry on exactly as before; whether its tenant, user, key or session still stands is
 * not the signature's business and is checked per request by `checkStanding`. At most
 * `maxTokens` are kept (the oldest go first).
 */
export function rememberVerifiedTokens(
  verifier: Pick<TokenVerifier, 'verify'>,
  options: { clock?: () => number; maxTokens?: number } = {},
): Pick<TokenVerifier, 'verify'> {
  const { clock = Date.now, maxTokens = 10_000 } = options;
  const remembered = new Map<string, Remembered>();
  const copy = (p: Principal): Principal => ({ ...p, scopes: [...p.scopes] });

  return {
    async verify(token) {
      const known = remembered.get(token);
      if (known) {
        if (clock() < known.expiresAt) return copy(known.principal);
        remembered.delete(token);
      }
      const principal = await verifier.verify(token);
      const expiresAt = expiryOf(token);
      if (expiresAt !== undefined && clock() < expiresAt) {
        if (remembered.size >= maxTokens) remembered.delete(remembered.keys().next().value!);
        remembered.set(token, { principal: copy(principal), expiresAt });
      }
      return principal;
    },
  };
}

/** The `exp` of a token the verifier has just accepted (so it has one), epoch milliseconds. */
function expiryOf(token: string): number | undefined {
  const { exp } = decodeJwt(token);
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
}
