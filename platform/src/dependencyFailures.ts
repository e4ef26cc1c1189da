import { UnavailableError } from './errors.ts';

// Socket errors, and PostgreSQL SQLSTATEs for "the server is not there or is going away".
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08006', // connection_failure
  // undefined_table: a read model not built yet (the read API started before its projector).
  '42P01',
]);
const unavailableNames = new Set([
  'ConnectionError',
  'BackendTerminatedError',
  'KafkaJSConnectionError',
  'KafkaJSNumberOfRetriesExceeded',
]);
const unavailableMessages =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i;

/**
 * Whether an error means a dependency (PostgreSQL, Kafka, object storage) is down rather than
 * that our code is wrong: such a request deserves a 503 the client may retry, never a 500.
 * Follows the `cause` chain, since drivers wrap the socket error.
 */
export function isDependencyUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 8; depth++) {
    if (current instanceof UnavailableError) return true;
    const { code, name, message } = current as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string' && unavailableCodes.has(code)) return true;
    if (typeof name === 'string' && unavailableNames.has(name)) return true;
    if (typeof message === 'string' && unavailableMessages.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
