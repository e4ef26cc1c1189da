import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What `login` keeps between runs: the servers it signed in to and how. */
export type StoredCredentials = {
  writeUrl: string;
  readUrl: string;
  email?: string;
  accessToken?: string;
  refreshToken?: string;
  apiKey?: string;
  savedAt: string;
};

/** `$XDG_CONFIG_HOME/deeplens/credentials.json`, else `~/.config/deeplens/credentials.json`. */
export function credentialsPath(env: Record<string, string | undefined> = process.env): string {
  const base = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return join(base, 'deeplens', 'credentials.json');
}

/**
 * The stored credentials, or undefined when there are none (or the file is not ours, or is
 * damaged: `login` then replaces it, `logout` removes it).
 */
export async function loadCredentials(path: string): Promise<StoredCredentials | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: Partial<StoredCredentials> | null;
  try {
    parsed = JSON.parse(text) as Partial<StoredCredentials> | null;
  } catch {
    return undefined;
  }
  if (typeof parsed?.writeUrl !== 'string' || typeof parsed.readUrl !== 'string') return undefined;
  return parsed as StoredCredentials;
}

/** Writes the file readable by its owner only (0600, in a 0700 folder), replacing it whole. */
export async function saveCredentials(path: string, credentials: StoredCredentials): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  // A umask cannot widen 0600, but a file created by an older version might be wider.
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

export async function forgetCredentials(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
