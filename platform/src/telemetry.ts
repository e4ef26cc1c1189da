import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { Config } from './config.ts';

export { SpanKind, context, trace };
export type { Span };

/** The tracer every DeepLens span comes from; a no-op until `startTelemetry` registers an SDK. */
export const tracer = trace.getTracer('deeplens');

/**
 * Starts OpenTelemetry tracing with OTLP/HTTP export, configured by the standard `OTEL_*`
 * variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`…). Off unless `OTEL_ENABLED` or
 * an OTLP endpoint is set; off, no SDK is loaded and every span is the API's no-op, which
 * costs next to nothing.
 */
export async function startTelemetry(
  serviceName: string,
  config: Pick<Config, 'OTEL_ENABLED'>,
): Promise<{ shutdown: () => Promise<void> }> {
  const enabled =
    config.OTEL_ENABLED ||
    Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (!enabled) return { shutdown: async () => undefined };
  // Loaded only when tracing is on: the SDK is a lot of code a process need not carry otherwise.
  const [{ NodeSDK }, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? `deeplens-${serviceName}`,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 })],
    instrumentations: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

/** Runs `work` inside a new span (a child of `parent`, else of the active context), recording failures. */
export async function withSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes ?? {} },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

/** W3C trace context of `ctx` (the active one by default) as headers: stored with outbox rows, sent in Kafka headers. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The trace context carried by headers (HTTP or Kafka); the root context when there is none. */
export function traceContextOf(headers: Record<string, unknown> | undefined): Context {
  if (!headers) return context.active();
  const carrier: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (typeof value === 'string') carrier[key.toLowerCase()] = value;
    else if (Buffer.isBuffer(value)) carrier[key.toLowerCase()] = value.toString();
  }
  return propagation.extract(context.active(), carrier);
}

/** The active span's ids, for log lines. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  return traceFlags === 0 && traceId === '00000000000000000000000000000000'
    ? undefined
    : { trace_id: traceId, span_id: spanId };
}
