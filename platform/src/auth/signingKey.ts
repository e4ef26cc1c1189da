import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Key material for access tokens. Asymmetric on purpose: the write API signs, the read API
 * (and anyone holding the JWKS) only verifies, so a compromised verifier cannot mint tokens.
 * Ed25519 (`EdDSA`) is the default; P-256 (`ES256`) is accepted for HSMs and clouds that
 * only offer NIST curves.
 */
export type SigningAlgorithm = 'EdDSA' | 'ES256';

/** A public key as a JWK, ready for `/.well-known/jwks.json`. */
export type PublicJwk = {
  kty: 'OKP' | 'EC';
  crv: 'Ed25519' | 'P-256';
  x: string;
  y?: string;
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
};

/** A new Ed25519 private key. */
export function generateSigningKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/** Reads a PKCS#8 PEM (or takes a KeyObject) and checks it is an Ed25519 or P-256 private key. */
export function toPrivateSigningKey(key: KeyObject | string): KeyObject {
  const keyObject = typeof key === 'string' ? createPrivateKey(key) : key;
  if (keyObject.type !== 'private') throw new Error('the token signing key must be a private key');
  signingAlgorithmOf(keyObject);
  return keyObject;
}

/** Takes a public key, or derives it from a private one; PEM or KeyObject. */
export function toPublicSigningKey(key: KeyObject | string): KeyObject {
  const keyObject = typeof key === 'string' ? createPublicKey(key) : key;
  const publicKey = keyObject.type === 'public' ? keyObject : createPublicKey(keyObject);
  signingAlgorithmOf(publicKey);
  return publicKey;
}

/** The JWS algorithm a key signs with; anything but Ed25519 and P-256 is refused. */
export function signingAlgorithmOf(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(
    `the token signing key must be Ed25519 or EC P-256, not ${key.asymmetricKeyType ?? key.type}`,
  );
}

/**
 * The public half as a JWK. Without `kid`, the key id is the RFC 7638 thumbprint, so every
 * process that holds the same key names it the same way without being told.
 */
export function publicJwkOf(key: KeyObject, kid?: string): PublicJwk {
  const publicKey = toPublicSigningKey(key);
  const alg = signingAlgorithmOf(publicKey);
  const jwk = publicKey.export({ format: 'jwk' });
  if (!jwk.x || !jwk.crv) throw new Error('the token signing key does not export as a JWK');
  const members =
    alg === 'EdDSA'
      ? { crv: 'Ed25519' as const, kty: 'OKP' as const, x: jwk.x }
      : { crv: 'P-256' as const, kty: 'EC' as const, x: jwk.x, y: jwk.y ?? '' };
  // RFC 7638: the required members only, in lexicographic order, no white space.
  const thumbprint = createHash('sha256').update(JSON.stringify(members)).digest('base64url');
  return { ...members, kid: kid ?? thumbprint, alg, use: 'sig' };
}

/**
 * For local runs with no `JWT_PRIVATE_KEY`: reads the PEM private key at `path`, or creates a
 * new Ed25519 key there (mode 0600, folder 0700) so tokens survive a restart. Two processes
 * starting at once end up with the same key: the file appears atomically (written aside, then
 * hard-linked into place, which fails if it exists) and the loser reads the winner's.
 *
 * Refuses a key file that group or others can read, as ssh does: a leaked key lets anyone
 * mint tokens for any tenant.
 */
export async function loadOrCreateSigningKey(path: string): Promise<KeyObject> {
  try {
    return await readSigningKey(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const pem = generateSigningKey().export({ type: 'pkcs8', format: 'pem' }).toString();
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(aside, pem, { mode: 0o600, flag: 'wx' });
  try {
    // The umask may have narrowed the mode further, never widened it; make it exactly 0600.
    await chmod(aside, 0o600);
    await link(aside, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(aside).catch(() => undefined);
  }
  return readSigningKey(path);
}

async function readSigningKey(path: string): Promise<KeyObject> {
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `the token signing key ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  return toPrivateSigningKey(await readFile(path, 'utf8'));
}
