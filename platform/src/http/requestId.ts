import type { MiddlewareHandler } from 'hono';
import { randomUUID } from '../ids.ts';

/**
 * Names every request: the caller's `X-Request-Id` when it is a sane token, else a new UUID.
 * Set as the `requestId` context variable (commands use it as correlation id, problems carry
 * it) and echoed in the response.
 */
export function requestId(): MiddlewareHandler<{ Variables: { requestId: string } }> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    c.set('requestId', given && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID());
    await next();
    c.header('x-request-id', c.get('requestId'));
  };
}
