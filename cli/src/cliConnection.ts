import { readAccessTokenClaims } from '@deeplens/client/accessTokenClaims';
import { DeepLensApiError } from '@deeplens/client/clientErrors';
import { createDeepLensClient, type DeepLensClient } from '@deeplens/client/deepLensClient';
import type { FetchFunction, RetryOptions } from '@deeplens/client/retryingFetch';
import { configSchema } from '@deeplens/platform/config';
import type { GlobalOptions } from './cliArguments.ts';
import { NotSignedInError } from './cliErrors.ts';
import { loadCredentials, saveCredentials, type StoredCredentials } from './credentialsStore.ts';

export type Endpoints = { writeUrl: string; readUrl: string };
type Env = Record<string, string | undefined>;

/** Where the APIs listen by default: the same variables (and defaults) the servers read. */
export function defaultEndpoints(env: Env): Endpoints {
  const config = configSchema
    .pick({ WRITE_API_HOST: true, WRITE_API_PORT: true, READ_API_HOST: true, READ_API_PORT: true })
    .parse(env);
  return {
    writeUrl: `http://${reachableHost(config.WRITE_API_HOST)}:${config.WRITE_API_PORT}`,
    readUrl: `http://${reachableHost(config.READ_API_HOST)}:${config.READ_API_PORT}`,
  };
}

/** A server listening on every interface is reached on loopback; an IPv6 literal gets brackets. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `--write-url`/`--read-url`, else DEEPLENS_WRITE_URL/DEEPLENS_READ_URL, else the login's, else the defaults. */
export function resolveEndpoints(global: GlobalOptions, env: Env, stored?: StoredCredentials): Endpoints {
  const defaults = defaultEndpoints(env);
  const clean = (url: string | undefined) => (url ? url.replace(/\/+$/, '') : undefined);
  return {
    writeUrl: global.writeUrl ?? clean(env['DEEPLENS_WRITE_URL']) ?? stored?.writeUrl ?? defaults.writeUrl,
    readUrl: global.readUrl ?? clean(env['DEEPLENS_READ_URL']) ?? stored?.readUrl ?? defaults.readUrl,
  };
}

export type Connection = {
  client: DeepLensClient;
  endpoints: Endpoints;
  /** How the client authenticates. */
  auth: 'DEEPLENS_TOKEN' | 'DEEPLENS_API_KEY' | 'stored session' | 'stored API key' | 'none';
  stored: StoredCredentials | undefined;
};

export type ConnectOptions = {
  credentialsFile: string;
  /** Commands that need no credentials (login) connect anyway. */
  requireCredentials: boolean;
  /**
   * Connect without credentials, whatever is stored (login, logout): a session the server has
   * forgotten must not stand in the way of replacing or forgetting it.
   */
  anonymous?: boolean;
  retry?: Partial<RetryOptions>;
  fetch?: FetchFunction;
  now?: () => number;
};

/**
 * A client with the caller's credentials: DEEPLENS_TOKEN or DEEPLENS_API_KEY, else what `login`
 * stored. A stored session whose access token is about to expire is refreshed first (and the
 * rotated refresh token saved). Stored credentials only go to the servers they came from.
 */
export async function connect(global: GlobalOptions, env: Env, options: ConnectOptions): Promise<Connection> {
  const now = options.now ?? Date.now;
  const stored = await loadCredentials(options.credentialsFile);
  const endpoints = resolveEndpoints(global, env, stored);
  const client = createDeepLensClient({
    ...endpoints,
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const connection = (auth: Connection['auth']): Connection => ({ client, endpoints, auth, stored });
  if (options.anonymous) return connection('none');

  if (env['DEEPLENS_TOKEN']) {
    client.setAuth({ token: env['DEEPLENS_TOKEN'] });
    return connection('DEEPLENS_TOKEN');
  }
  if (env['DEEPLENS_API_KEY']) {
    client.setAuth({ apiKey: env['DEEPLENS_API_KEY'] });
    return connection('DEEPLENS_API_KEY');
  }
  const sameServer = stored !== undefined && stored.writeUrl === endpoints.writeUrl;
  if (!sameServer || (!stored.accessToken && !stored.apiKey)) {
    if (!options.requireCredentials) return connection('none');
    throw new NotSignedInError(
      stored && !sameServer
        ? `the stored credentials are for ${stored.writeUrl}, not ${endpoints.writeUrl}: sign in there with \`npm run deeplens -- login --email <e>\``
        : 'not signed in: run `npm run deeplens -- login --email <e>` (or set DEEPLENS_API_KEY)',
    );
  }
  if (stored.apiKey) {
    client.setAuth({ apiKey: stored.apiKey });
    return connection('stored API key');
  }
  const expiresAt = readAccessTokenClaims(stored.accessToken!)?.expiresAt ?? 0;
  if (expiresAt - now() > 30_000) {
    client.setAuth({ token: stored.accessToken! });
    return connection('stored session');
  }
  if (!stored.refreshToken) throw new NotSignedInError('the session has expired: sign in again with `login`');
  try {
    const tokens = await client.refresh(stored.refreshToken);
    const renewed: StoredCredentials = {
      ...stored,
      accessToken: tokens.accessToken,
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      savedAt: new Date(now()).toISOString(),
    };
    await saveCredentials(options.credentialsFile, renewed);
    return { ...connection('stored session'), stored: renewed };
  } catch (error) {
    if (error instanceof DeepLensApiError && (error.status === 401 || error.status === 400))
      throw new NotSignedInError(
        `the session has ended (${error.problem.detail}): sign in again with \`login\``,
      );
    throw error;
  }
}
