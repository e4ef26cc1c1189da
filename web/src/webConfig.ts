import { loadConfig } from '@deeplens/platform/config';

export type WebConfig = {
  host: string;
  port: number;
  writeUrl: string;
  readUrl: string;
  secureCookies: boolean | undefined;
  trustProxy: boolean;
};

/** A server listening on every interface is reached on loopback. */
function reachable(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * The web server's settings: WEB_HOST (127.0.0.1) and WEB_PORT (8070) for itself, the APIs'
 * addresses from the same variables the APIs use (or WEB_WRITE_API_URL / WEB_READ_API_URL),
 * WEB_SECURE_COOKIES to force `Secure` cookies behind a TLS-terminating proxy.
 */
export function loadWebConfig(env: NodeJS.ProcessEnv = process.env): WebConfig {
  const config = loadConfig(env);
  const port = Number(env['WEB_PORT'] ?? '8070');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`WEB_PORT must be a port number (0–65535), not ${JSON.stringify(env['WEB_PORT'])}`);
  const secure = env['WEB_SECURE_COOKIES'];
  if (secure !== undefined && secure !== 'true' && secure !== 'false')
    throw new Error(`WEB_SECURE_COOKIES must be true or false, not ${JSON.stringify(secure)}`);
  return {
    host: env['WEB_HOST'] ?? '127.0.0.1',
    port,
    writeUrl:
      env['WEB_WRITE_API_URL'] ?? `http://${reachable(config.WRITE_API_HOST)}:${config.WRITE_API_PORT}`,
    readUrl: env['WEB_READ_API_URL'] ?? `http://${reachable(config.READ_API_HOST)}:${config.READ_API_PORT}`,
    secureCookies: secure === undefined ? undefined : secure === 'true',
    trustProxy: config.TRUST_PROXY,
  };
}

export function webUrl(config: Pick<WebConfig, 'host' | 'port'>): string {
  return `http://${reachable(config.host)}:${config.port}`;
}
