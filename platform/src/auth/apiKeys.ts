import { createHash, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `dl_k3x9q2mz_<43 characters>`: a fixed marker (so secret scanners and
 * people recognise one), the 8-character lookup prefix, and 32 random bytes in base64url. Only
 * the prefix and the SHA-256 of the whole token are ever stored; the token is shown once.
 *
 * A plain SHA-256 (not a password hash) is enough here: the secret has 256 bits of entropy,
 * so there is nothing to brute-force, and every request can afford to check it.
 */
export const apiKeyPrefixLength = 8;

const marker = 'dl_';
const secretBytes = 32;
// Lower-case letters and digits only: the prefix shows up in logs, URLs and support tickets.
const prefixAlphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
const tokenPattern = /^dl_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;

export type GeneratedApiKey = {
  keyId: string;
  /** 8 characters of `[a-z0-9]`; identifies the key in lookups, logs and the UI. Not secret. */
  prefix: string;
  /** The full token, `dl_<prefix>_<secret>`: shown to the user once, never stored. */
  secret: string;
  /** Lower-case hex SHA-256 of the full token: what `ApiKeyIssued` carries. */
  secretHash: string;
};

/** A new key; pass `keyId`, `prefix` and `secretHash` to `IssueApiKey`, show `secret` once. */
export function generateApiKey(): GeneratedApiKey {
  let prefix = '';
  for (let i = 0; i < apiKeyPrefixLength; i++) prefix += prefixAlphabet[randomInt(prefixAlphabet.length)];
  const secret = `${marker}${prefix}_${randomBytes(secretBytes).toString('base64url')}`;
  return { keyId: randomUUID(), prefix, secret, secretHash: hashApiKey(secret) };
}

/** The lookup prefix of a well-formed token, or undefined for anything else. */
export function parseApiKey(token: string): string | undefined {
  return tokenPattern.exec(token)?.[1];
}

/** Lower-case hex SHA-256 of the full token. */
export function hashApiKey(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * True when `token` hashes to `secretHash`. The digests are compared in constant time, so the
 * response time says nothing about how much of a guess was right.
 */
export function verifyApiKeySecret(token: string, secretHash: string): boolean {
  if (!/^[0-9a-f]{64}$/i.test(secretHash)) return false;
  const expected = Buffer.from(secretHash, 'hex');
  const actual = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(actual, expected);
}
