import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ValidationError } from './errors.ts';

/**
 * Crypto-shredding: personal data in events is encrypted with per-subject data keys
 * (AES-256-GCM). A subject is `user:<id>` or `tenant:<id>`; destroying its key makes every
 * ciphertext made with it unreadable, wherever the log keeps it.
 */

/** The one port the rest of DeepLens sees. */
export interface DataKeyStore {
  /**
   * The subject's data key, created — and durable on the key topic — first if it has none.
   * `undefined` when the subject was erased: nothing is to be written for it any more.
   */
  keyForWriting(subject: string): Promise<Buffer | undefined>;
  /** The subject's data key, or `undefined` when it was erased (readers show the subject as erased). */
  keyForReading(subject: string): Promise<Buffer | undefined>;
  /** Destroys the subject's key for good (a tombstone on the key topic). Idempotent. */
  destroy(subject: string): Promise<void>;
}

export const userSubject = (userId: string): string => `user:${userId}`;
export const tenantSubject = (tenantId: string): string => `tenant:${tenantId}`;

const keyLength = 32;
const nonceLength = 12;
const tagLength = 16;

/** Personal data sealed under one or more subjects' keys: all of them are needed to open it. */
export type SealedEnvelope = {
  /** The subjects whose keys the content key is derived from, in order. */
  subjects: string[];
  nonce: Buffer;
  /** AES-256-GCM ciphertext followed by its 16-byte tag. */
  ciphertext: Buffer;
};

export function newDataKey(): Buffer {
  return randomBytes(keyLength);
}

/**
 * The content key of a set of subjects. One subject: its key. Several: HKDF-SHA256 over all of
 * them, so destroying any one of the keys (the user's, or the whole tenant's) destroys access.
 */
function contentKey(subjects: readonly string[], keys: readonly Buffer[]): Buffer {
  if (keys.length !== subjects.length || keys.length === 0) throw new Error('one key per subject');
  for (const key of keys) if (key.length !== keyLength) throw new Error('a data key is 32 bytes');
  if (keys.length === 1) return keys[0]!;
  return Buffer.from(
    hkdfSync('sha256', Buffer.concat(keys), 'deeplens.personal-data', subjects.join('\n'), keyLength),
  );
}

/** Encrypts `plain` for `subjects`; `context` (e.g. the event id) is authenticated, not stored. */
export function sealEnvelope(
  subjects: readonly string[],
  keys: readonly Buffer[],
  plain: Buffer,
  context: string,
): SealedEnvelope {
  const nonce = randomBytes(nonceLength);
  const cipher = createCipheriv('aes-256-gcm', contentKey(subjects, keys), nonce);
  cipher.setAAD(Buffer.from(`${subjects.join('\n')}\n${context}`));
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return { subjects: [...subjects], nonce, ciphertext };
}

/** Decrypts an envelope; throws `ValidationError` when a key is wrong or a byte was changed. */
export function openEnvelope(envelope: SealedEnvelope, keys: readonly Buffer[], context: string): Buffer {
  const { subjects, nonce, ciphertext } = envelope;
  if (nonce.length !== nonceLength || ciphertext.length < tagLength) {
    throw new ValidationError('a sealed envelope is malformed');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', contentKey(subjects, keys), nonce);
    decipher.setAAD(Buffer.from(`${subjects.join('\n')}\n${context}`));
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - tagLength));
    return Buffer.concat([
      decipher.update(ciphertext.subarray(0, ciphertext.length - tagLength)),
      decipher.final(),
    ]);
  } catch (error) {
    throw new ValidationError('a sealed envelope does not open with these keys', { cause: error });
  }
}

/** A data key wrapped by the master key, bound to its subject: `nonce ‖ ciphertext ‖ tag`. */
export function wrapDataKey(masterKey: Buffer, subject: string, dataKey: Buffer): Buffer {
  const nonce = randomBytes(nonceLength);
  const cipher = createCipheriv('aes-256-gcm', masterKey, nonce);
  cipher.setAAD(Buffer.from(`deeplens.data-key\n${subject}`));
  return Buffer.concat([nonce, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
}

export function unwrapDataKey(masterKey: Buffer, subject: string, wrapped: Buffer): Buffer {
  if (wrapped.length !== nonceLength + keyLength + tagLength) {
    throw new ValidationError(`the wrapped data key of ${subject} is malformed`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey, wrapped.subarray(0, nonceLength));
    decipher.setAAD(Buffer.from(`deeplens.data-key\n${subject}`));
    decipher.setAuthTag(wrapped.subarray(wrapped.length - tagLength));
    return Buffer.concat([
      decipher.update(wrapped.subarray(nonceLength, wrapped.length - tagLength)),
      decipher.final(),
    ]);
  } catch (error) {
    throw new ValidationError(`the data key of ${subject} does not unwrap with DATA_KEY_MASTER_KEY`, {
      cause: error,
    });
  }
}

/**
 * The master key that wraps every data key: `DATA_KEY_MASTER_KEY` (base64 of 32 bytes), or — for
 * a local run only — one generated once into a 0600 file. Production must configure it, and
 * back it up: without it the key topic, and so all personal data in the log, is unreadable.
 */
export async function loadDataKeyMasterKey(
  configured: string | undefined,
  fallbackPath: string,
  production: boolean,
): Promise<Buffer> {
  let key: Buffer;
  if (configured) key = Buffer.from(configured, 'base64');
  else if (production) throw new ValidationError('DATA_KEY_MASTER_KEY must be set in production');
  else {
    await mkdir(dirname(fallbackPath), { recursive: true });
    await writeFile(fallbackPath, newDataKey().toString('base64'), { mode: 0o600, flag: 'wx' }).catch(
      () => undefined,
    );
    await chmod(fallbackPath, 0o600).catch(() => undefined);
    key = Buffer.from((await readFile(fallbackPath, 'utf8')).trim(), 'base64');
  }
  if (key.length !== keyLength) {
    throw new ValidationError('DATA_KEY_MASTER_KEY must be 32 bytes (base64 of 32 random bytes)');
  }
  return key;
}

/** A data-key store in memory: for pure tests and tools; keys die with the process. */
export function memoryDataKeyStore(): DataKeyStore & { erased: ReadonlySet<string> } {
  const keys = new Map<string, Buffer>();
  const erased = new Set<string>();
  return {
    erased,
    keyForWriting(subject) {
      if (erased.has(subject)) return Promise.resolve(undefined);
      let key = keys.get(subject);
      if (!key) keys.set(subject, (key = newDataKey()));
      return Promise.resolve(key);
    },
    keyForReading: (subject) => Promise.resolve(keys.get(subject)),
    destroy(subject) {
      keys.delete(subject);
      erased.add(subject);
      return Promise.resolve();
    },
  };
}
