import type { MiddlewareHandler } from 'hono';

/**
 * Headers every answer of both APIs carries: `X-Content-Type-Options: nosniff` (a browser never
 * second-guesses our content types, so an image or JSON is never run as a script), and on JSON
 * and problem answers without a `Cache-Control` of their own, `Cache-Control: no-store`: they
 * hold one tenant's data or a credential, which no shared cache may keep.
 */
export function responseHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    const type = c.res.headers.get('Content-Type') ?? '';
    if (/^application\/([\w.+-]+\+)?json\b/i.test(type) && !c.res.headers.has('Cache-Control')) {
      c.res.headers.set('Cache-Control', 'no-store');
    }
  };
}
