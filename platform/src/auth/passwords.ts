import { hash, parseOptions, verify, type Algorithm } from '@node-rs/argon2';
import { ValidationError } from '../errors.ts';

/**
 * Argon2id with OWASP's minimum recommendation (19 MiB, 2 passes, 1 lane): about 30 ms on one
 * core, memory-hard enough that a GPU farm gains little. Raising any of them later is safe:
 * `passwordNeedsRehash` tells the sign-in handler to store a stronger hash.
 */
export const passwordHashParameters = {
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
} as const;

export const minPasswordLength = 12;
/** Long enough for any passphrase, short enough that nobody hashes megabytes on our time. */
export const maxPasswordLength = 1024;

// The package declares its enum as an ambient const enum, which isolated modules cannot read.
const argon2id = 2 as Algorithm.Argon2id;

/**
 * NIST SP 800-63B: compare passwords after Unicode normalisation, and count characters as
 * code points, so "é" typed on two keyboards is one password and one character.
 */
function normalise(plain: string): string {
  return plain.normalize('NFKC');
}

function lengthOf(plain: string): number {
  // Spares spreading a megabyte string into code points just to learn it is too long.
  if (plain.length > maxPasswordLength * 4) return plain.length;
  return [...plain].length;
}

/**
 * Hashes a new password (PHC string `$argon2id$v=19$m=…`). Refuses one shorter than 12 or
 * longer than 1024 characters with `ValidationError`. Runs on libuv's thread pool, so it does
 * not block the event loop.
 */
export async function hashPassword(plain: string): Promise<string> {
  const normalised = normalise(plain);
  const length = lengthOf(normalised);
  if (length < minPasswordLength) {
    throw new ValidationError(`A password has at least ${minPasswordLength} characters`);
  }
  if (length > maxPasswordLength) {
    throw new ValidationError(`A password has at most ${maxPasswordLength} characters`);
  }
  return hash(normalised, { ...passwordHashParameters, algorithm: argon2id });
}

let unknownUserHash: Promise<string> | undefined;

/**
 * Checks `plain` against a stored hash; the comparison inside argon2 is constant-time.
 *
 * Pass `undefined` as the hash when no such user exists: the password is then checked against
 * a throw-away hash and the answer is `false`, so a sign-in for an unknown e-mail takes as long
 * as one with a wrong password and the response time does not reveal which accounts exist.
 *
 * A password outside the length rules is simply wrong (no error: the rules are for new
 * passwords). A stored hash that is not a PHC argon2 string throws, because that is corrupt
 * data, not a wrong password.
 */
export async function verifyPassword(storedHash: string | undefined, plain: string): Promise<boolean> {
  const normalised = normalise(plain);
  const length = lengthOf(normalised);
  const plausible = length >= minPasswordLength && length <= maxPasswordLength;
  if (storedHash === undefined || !plausible) {
    unknownUserHash ??= hash('deeplens: no such user', { ...passwordHashParameters, algorithm: argon2id });
    await verify(await unknownUserHash, plausible ? normalised : 'deeplens: wrong length');
    return false;
  }
  try {
    return await verify(storedHash, normalised);
  } catch (error) {
    throw new Error('the stored password hash is not a valid argon2 hash', { cause: error });
  }
}

/**
 * True when `storedHash` was made with weaker (or merely different) parameters than today's;
 * the sign-in handler then re-hashes the password it just verified and records the new hash.
 */
export function passwordNeedsRehash(storedHash: string): boolean {
  try {
    const options = parseOptions(storedHash);
    return (
      options.algorithm !== argon2id ||
      options.memoryCost !== passwordHashParameters.memoryCost ||
      options.timeCost !== passwordHashParameters.timeCost ||
      options.parallelism !== passwordHashParameters.parallelism ||
      options.outputLen !== passwordHashParameters.outputLen
    );
  } catch {
    return true;
  }
}
