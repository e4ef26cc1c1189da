import type { ServerOptions } from 'node:http';
import type { Config } from '../config.ts';

/**
 * Node server options of both APIs: a client gets 10 s to send its headers and
 * HTTP_REQUEST_TIMEOUT_SECONDS to send its whole request, checked every second, after which
 * Node answers 408 and closes the connection. A stalled body thus holds a connection for
 * seconds, not minutes. Time spent answering is not counted: only receiving the request.
 */
export function apiServerOptions(config: Pick<Config, 'HTTP_REQUEST_TIMEOUT_SECONDS'>): ServerOptions {
  const requestTimeout = config.HTTP_REQUEST_TIMEOUT_SECONDS * 1000;
  return {
    headersTimeout: Math.min(10_000, requestTimeout),
    requestTimeout,
    connectionsCheckingInterval: 1_000,
  };
}
