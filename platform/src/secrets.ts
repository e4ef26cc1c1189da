import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from './config.ts';
import { ValidationError } from './errors.ts';

/**
 * Encrypts secrets at rest (tenant storage credentials, stored idempotent responses) with
 * AES-256-GCM. The ciphertext is `v1.<iv>.<tag>.<data>` in base64url, so a future key or
 * algorithm can be told apart.
 */
export type SecretBox = { seal(plain: string): string; open(sealed: string): string };

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32)
    throw new ValidationError('SECRETS_KEY must be 32 bytes (base64 of 32 random bytes)');
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), data]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.');
    },
    open(sealed) {
      const [version, iv, tag, data] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || data === undefined)
        throw new ValidationError('not a sealed secret');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    },
  };
}

/**
 * The configured key, or — for a local run only — one generated once and kept in a 0600 file.
 * Production (`NODE_ENV=production`) must configure `SECRETS_KEY`.
 */
export async function loadSecretsKey(
  configured: string | undefined,
  fallbackPath: string,
  production: boolean,
): Promise<Buffer> {
  if (configured) return Buffer.from(configured, 'base64');
  if (production) throw new ValidationError('SECRETS_KEY must be set in production');
  try {
    return Buffer.from((await readFile(fallbackPath, 'utf8')).trim(), 'base64');
  } catch {
    const key = randomBytes(32);
    await mkdir(dirname(fallbackPath), { recursive: true });
    await writeFile(fallbackPath, key.toString('base64'), { mode: 0o600, flag: 'wx' }).catch(
      async () => undefined,
    );
    await chmod(fallbackPath, 0o600).catch(() => undefined);
    return Buffer.from((await readFile(fallbackPath, 'utf8')).trim(), 'base64');
  }
}

/** The process's secret box from its configuration: `SECRETS_KEY`, else the local key file. */
export async function secretBoxFor(
  config: Pick<Config, 'SECRETS_KEY' | 'SECRETS_DIR' | 'NODE_ENV'>,
): Promise<SecretBox> {
  return createSecretBox(
    await loadSecretsKey(
      config.SECRETS_KEY,
      join(config.SECRETS_DIR, 'secrets.key'),
      config.NODE_ENV === 'production',
    ),
  );
}
