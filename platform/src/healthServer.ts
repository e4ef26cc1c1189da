import { createServer, type Server } from 'node:http';
import { metricsRegistry } from './metrics.ts';
import { readiness } from './readiness.ts';

/**
 * The HTTP endpoints of a process without an HTTP API (relay, embedder, projectors, eraser…):
 * `/metrics` (Prometheus), `/healthz` (alive) and `/readyz` — 503 with every reason this
 * process is not ready (a halted partition with its topic, partition and offset, a projection
 * replaying the log), 200 otherwise.
 */
export async function startHealthServer(host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    const json = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (request.url === '/healthz') return json(200, { status: 'ok' });
    if (request.url === '/readyz') {
      const { ready, reasons } = readiness();
      return ready ? json(200, { status: 'ready' }) : json(503, { status: 'not ready', reasons });
    }
    if (request.url !== '/metrics') return void response.writeHead(404).end();
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
