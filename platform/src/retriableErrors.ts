/**
 * Whether an error is a passing fault of a dependency (PostgreSQL, the schema registry, Kafka,
 * object storage) rather than a property of the record being handled: a retriable error is
 * retried with backoff; any other error is the record's own (dead-lettered or halting).
 */
export function isRetriableError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const { name, code, message, retriable } = e as {
      name?: string;
      code?: unknown;
      message?: string;
      retriable?: boolean;
    };
    if (retriable === true) return true;
    if (
      name &&
      [
        'ConnectionError',
        'BackendTerminatedError',
        'StatementTimeoutError',
        'StatementCancelledError',
        'TupleMovedToAnotherPartitionError',
        'UnavailableError',
      ].includes(name)
    ) {
      return true;
    }
    if (typeof code === 'string') {
      // PostgreSQL: connection (08), serialization/deadlock (40), resources (53), shutdown (57P).
      if (/^(08|40|53|57P)/.test(code)) return true;
      if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code))
        return true;
    }
    if (message && /fetch failed|HTTP 5\d\d|socket hang up|Connection terminated/i.test(message)) return true;
  }
  return false;
}
