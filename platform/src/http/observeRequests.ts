import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Logger } from '../logger.ts';
import { httpRequestDuration, metricsRegistry } from '../metrics.ts';
import { SpanKind, traceContextOf, withSpan } from '../telemetry.ts';

/**
 * Every request in a server span (continuing the caller's W3C trace context) and in the
 * request-duration histogram, labelled by route pattern — never the raw path, whose ids would
 * make a series per image.
 */
export function observeRequests(log?: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const parent = traceContextOf(Object.fromEntries(c.req.raw.headers));
    await withSpan(
      `${c.req.method} request`,
      { kind: SpanKind.SERVER, parent, attributes: { 'http.request.method': c.req.method } },
      async (span) => {
        await next();
        // The handler's pattern: the last matched route that is not a middleware (method ALL).
        const route =
          matchedRoutes(c)
            .filter((r) => r.method !== 'ALL')
            .at(-1)?.path ?? 'unmatched';
        span.updateName(`${c.req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
        const seconds = (performance.now() - started) / 1000;
        httpRequestDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
        // The access log: inside the span, so the line carries the trace and span ids.
        const { traceId, spanId } = span.spanContext();
        log?.debug('request', {
          method: c.req.method,
          route,
          status: c.res.status,
          ms: Math.round(seconds * 1000),
          trace_id: traceId,
          span_id: spanId,
        });
      },
    );
  };
}

/**
 * `GET /metrics` in Prometheus text format, on an API's own port: only to a caller presenting
 * `Authorization: Bearer <token>` (METRICS_TOKEN), and not at all (404) when no token is
 * configured. Route names, heap and versions are not for anyone on the API port; the
 * unauthenticated endpoint is METRICS_PORT's, which need not be exposed.
 */
export async function metricsResponse(c: Context, token: string | undefined): Promise<Response> {
  const presented = /^Bearer\s+(\S+)$/i.exec(c.req.header('Authorization') ?? '')?.[1];
  if (token === undefined || presented === undefined || !sameSecret(presented, token)) return c.notFound();
  return new Response(await metricsRegistry.metrics(), {
    headers: { 'content-type': metricsRegistry.contentType },
  });
}

function sameSecret(a: string, b: string): boolean {
  const [x, y] = [createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest()];
  return timingSafeEqual(x, y);
}
