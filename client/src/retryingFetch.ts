import { setTimeout as sleep } from 'node:timers/promises';
import { DeepLensUnreachableError } from './clientErrors.ts';

export type FetchFunction = (request: Request) => Response | Promise<Response>;

export type RetryEvent = { attempt: number; waitMs: number; status: number; url: string };

export type RetryOptions = {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Longest single wait, whatever `Retry-After` asks for. */
  maxWaitMs: number;
  /** Told before each wait (a CLI shows "rate limited, retrying in 12 s"). */
  onRetry?: (event: RetryEvent) => void;
};

export const defaultRetryOptions: RetryOptions = { maxAttempts: 5, maxWaitMs: 60_000 };

/**
 * A fetch that retries what is safe to retry: a rate-limited 429 (refused before anything was
 * done; it carries `Retry-After`), and a 503 for a request that may be repeated (GET, or a
 * command with an Idempotency-Key). It waits as long as `Retry-After` says, else backs off
 * exponentially. A network failure becomes a
 * `DeepLensUnreachableError`.
 */
export function retryingFetch(
  fetch: FetchFunction,
  options: RetryOptions = defaultRetryOptions,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const repeatable = request.method === 'GET' || request.headers.has('idempotency-key');
    for (let attempt = 1; ; attempt++) {
      // The body can be read once: keep a copy for the next attempt.
      const spare = attempt < options.maxAttempts ? request.clone() : undefined;
      let response: Response;
      try {
        response = await fetch(request);
      } catch (error) {
        throw new DeepLensUnreachableError(request.url, error);
      }
      // A 429 without Retry-After is a quota, not a rate: waiting does not help.
      const retriable =
        (response.status === 429 && response.headers.has('retry-after')) ||
        (response.status === 503 && repeatable);
      if (!retriable || !spare) return response;
      const waitMs = Math.min(options.maxWaitMs, retryDelayMs(response.headers.get('retry-after'), attempt));
      await response.body?.cancel();
      options.onRetry?.({ attempt, waitMs, status: response.status, url: request.url });
      await sleep(waitMs);
      request = spare;
    }
  };
}

/** `Retry-After` in seconds (or an HTTP date), else 0.5 s, 1 s, 2 s… with a little jitter. */
export function retryDelayMs(retryAfter: string | null, attempt: number, now = Date.now()): number {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  return 500 * 2 ** (attempt - 1) * (1 + Math.random() * 0.2);
}
