import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** This process's metrics, in Prometheus text format at `/metrics`. */
export const metricsRegistry = new Registry();
// The event loop delay is sampled every 100 ms, not every 10 ms (prom-client's default): a
// hundred wake-ups a second cost an idle process ~3 ms of CPU per second, and a stall long
// enough to matter still shows.
collectDefaultMetrics({ register: metricsRegistry, eventLoopMonitoringPrecision: 100 });

const register = [metricsRegistry];

export const httpRequestDuration = new Histogram({
  name: 'deeplens_http_request_duration_seconds',
  help: 'HTTP request duration by route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: register,
});

export const outboxBacklog = new Gauge({
  name: 'deeplens_outbox_backlog',
  help: 'Outbox rows not yet published to Kafka',
  registers: register,
});

export const outboxPublishLatency = new Histogram({
  name: 'deeplens_outbox_publish_latency_seconds',
  help: 'Time from an event entering the outbox to its publication in Kafka',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: register,
});

export const eventsPublished = new Counter({
  name: 'deeplens_events_published_total',
  help: 'Events the relay published',
  registers: register,
});

export const consumerLag = new Gauge({
  name: 'deeplens_consumer_lag',
  help: 'Records between a consumer position and the end of its partition',
  labelNames: ['group', 'topic', 'partition'] as const,
  registers: register,
});

export const eventsApplied = new Counter({
  name: 'deeplens_events_applied_total',
  help: 'Events a consumer applied (projections, embedder, intake)',
  labelNames: ['consumer'] as const,
  registers: register,
});

export const embeddingLatency = new Histogram({
  name: 'deeplens_embedding_latency_seconds',
  help: 'Time to embed one batch (decode + inference)',
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: register,
});

export const embeddingBatchSize = new Histogram({
  name: 'deeplens_embedding_batch_size',
  help: 'Images per inference batch',
  buckets: [1, 2, 4, 8, 16, 32, 64],
  registers: register,
});

export const deadLetters = new Counter({
  name: 'deeplens_dead_letters_total',
  help: 'Records sent to a dead-letter topic or recorded as poison',
  labelNames: ['consumer'] as const,
  registers: register,
});

export const searchLatency = new Histogram({
  name: 'deeplens_search_latency_seconds',
  help: 'Similarity search latency by kind of query',
  labelNames: ['kind'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: register,
});

export const searchResults = new Histogram({
  name: 'deeplens_search_results',
  help: 'Hits returned per search',
  buckets: [0, 1, 5, 10, 20, 50, 100],
  registers: register,
});

/** A tiny `/metrics` endpoint for processes without an HTTP API (relay, embedder, projectors…). */
export async function startMetricsServer(host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    metricsRegistry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) =>
    server.once('error', reject).listen(port, host, () => resolve()),
  );
  return server;
}

export const consumerErrors = new Counter({
  name: 'deeplens_consumer_errors_total',
  help: 'Consumer failures by kind: retry (a retriable error, retried), dead-letter, halt, skip (an operator --skip)',
  labelNames: ['consumer', 'kind'] as const,
  registers: register,
});

export const consumerHalted = new Gauge({
  name: 'deeplens_consumer_halted',
  help: 'A partition a consumer stopped at because one of our records could not be decoded or applied (1 = halted)',
  labelNames: ['consumer', 'topic', 'partition'] as const,
  registers: register,
});

export const projectionReplaying = new Gauge({
  name: 'deeplens_projection_replaying',
  help: 'Records a projection still has to apply to reach the log end seen at its start (0 = caught up)',
  labelNames: ['projection'] as const,
  registers: register,
});
