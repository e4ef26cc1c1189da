import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { httpRequestDuration, metricsRegistry } from '../metrics.ts';
import { SpanKind, traceContextOf, withSpan } from '../telemetry.ts';

/**
 * Every request in a server span (continuing the caller's W3C trace context) and in the
 * request-duration histogram, labelled by route pattern — never the raw path, whose ids would
 * make a series per image.
 */
export function observeRequests(): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const parent = traceContextOf(Object.fromEntries(c.req.raw.headers));
    await withSpan(
      `${c.req.method} request`,
      { kind: SpanKind.SERVER, parent, attributes: { 'http.request.method': c.req.method } },
      async (span) => {
        await next();
        const route = routePath(c, -1) || 'unmatched';
        span.updateName(`${c.req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
        httpRequestDuration.observe(
          { method: c.req.method, route, status: String(c.res.status) },
          (performance.now() - started) / 1000,
        );
      },
    );
  };
}

/** `GET /metrics` in Prometheus text format. */
export async function metricsResponse(): Promise<Response> {
  return new Response(await metricsRegistry.metrics(), {
    headers: { 'content-type': metricsRegistry.contentType },
  });
}
