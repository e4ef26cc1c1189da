import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { startDeepLens, type DeepLensProcessName } from '@deeplens/platform/testing/deeplensProcesses';

type ReceivedSpan = { service: string; traceId: string; spanId: string; parentSpanId: string; name: string };

/** A minimal OTLP/HTTP (JSON) trace receiver: what an OpenTelemetry collector would get. */
async function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans?: {
            resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
            scopeSpans?: {
              spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string }[];
            }[];
          }[];
        };
        for (const rs of body.resourceSpans ?? []) {
          const service =
            rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? 'unknown';
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? [])
              spans.push({
                service,
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name,
              });
        }
      } catch {
        /* not JSON: ignored */
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Prometheus text format: every sample line must parse; returns name{labels} → value. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( \d+)?$/.exec(line);
    assert.ok(match, `not Prometheus text: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

/** The end of an upload's path: its vector applied to the vector index by the projector. */
const appliedEmbeddingToIndex = (s: ReceivedSpan) =>
  s.service === 'deeplens-projectors' &&
  s.name.startsWith('project ImageEmbedded') &&
  /vector index/.test(s.name);

const sum = (samples: Map<string, number>, name: string) =>
  [...samples].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((total, [, v]) => total + v, 0);

describe('observability across every process', () => {
  it('one trace from the upload request to the vector index; metrics move; no secret in any log', async (t) => {
    const otlp = await startOtlpReceiver();
    t.after(() => otlp.close());
    const deeplens = await startDeepLens(t, {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, LOG_LEVEL: 'debug' },
    });
    const secrets: string[] = [deeplens.admin.password];
    const call = async (
      base: string,
      method: string,
      path: string,
      token?: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) =>
      fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
      });
    const token = async (email: string, password: string) => {
      const body = (await (
        await call(deeplens.writeUrl, 'POST', '/v1/auth/token', undefined, {
          grant_type: 'password',
          email,
          password,
        })
      ).json()) as { access_token: string; refresh_token: string };
      secrets.push(body.access_token, body.refresh_token);
      return body.access_token;
    };
    const admin = await token(deeplens.admin.email, deeplens.admin.password);
    const tenant = (await (
      await call(deeplens.writeUrl, 'POST', '/v1/tenants', admin, { slug: 'observed', name: 'Observed' })
    ).json()) as { id: string };
    const userPassword = `user-${randomBytes(6).toString('hex')}`;
    secrets.push(userPassword);
    await call(deeplens.writeUrl, 'POST', '/v1/users', admin, {
      email: 'o@observed.test',
      password: userPassword,
      role: 'tenant_admin',
      tenantId: tenant.id,
    });
    const user = await token('o@observed.test', userPassword);
    const key = (await (
      await call(deeplens.writeUrl, 'POST', `/v1/tenants/${tenant.id}/api-keys`, user, {
        scopes: ['images:write', 'images:read'],
      })
    ).json()) as { secret: string };
    secrets.push(key.secret);

    const before = new Map<DeepLensProcessName, Map<string, number>>();
    for (const [name, url] of Object.entries(deeplens.metricsUrls) as [DeepLensProcessName, string][]) {
      before.set(name, parsePrometheus(await (await fetch(url)).text()));
    }

    // One upload, under a trace of our own: every span it causes must join it.
    const traceId = randomBytes(16).toString('hex');
    const photos = join(import.meta.dirname, '..', '..', 'embedder', 'fixtures', 'photos');
    const names = ['astronaut.jpg', 'coffee.jpg', 'rocket.jpg', 'chelsea.jpg'];
    const ids: string[] = [];
    for (const [i, name] of names.entries()) {
      const form = new FormData();
      form.append('file', new Blob([await readFile(join(photos, name))], { type: 'image/jpeg' }), name);
      const headers: Record<string, string> =
        i === 0 ? { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } : {};
      const response = await fetch(`${deeplens.writeUrl}/v1/images`, {
        method: 'POST',
        headers: { 'x-api-key': key.secret, ...headers },
        body: form,
      });
      assert.equal(response.status, 202);
      ids.push(((await response.json()) as { images: { id: string }[] }).images[0]!.id);
    }
    const deadline = Date.now() + 120_000;
    for (const id of ids) {
      while (Date.now() < deadline) {
        const status = (
          (await (await call(deeplens.readUrl, 'GET', `/v1/images/${id}`, user)).json()) as {
            status?: string;
          }
        ).status;
        if (status === 'indexed') break;
        await sleep(250);
      }
    }

    // The trace: HTTP request → command → relay → embedder → command → relay → vector projection.
    const expectServices = [
      'deeplens-write-api',
      'deeplens-outbox-relay',
      'deeplens-embedder',
      'deeplens-projectors',
    ];
    let trace: ReceivedSpan[] = [];
    while (Date.now() < deadline) {
      trace = otlp.spans.filter((s) => s.traceId === traceId);
      if (
        expectServices.every((service) => trace.some((s) => s.service === service)) &&
        trace.some(appliedEmbeddingToIndex) &&
        trace.some((s) => s.name === 'publish ImageEmbedded')
      )
        break;
      await sleep(500);
    }
    const services = new Set(trace.map((s) => s.service));
    for (const service of expectServices)
      assert.ok(services.has(service), `spans from ${service}: ${[...services].join(', ')}`);
    assert.ok(
      trace.some((s) => s.service === 'deeplens-write-api' && s.name.startsWith('POST /v1/images')),
      'the HTTP request span',
    );
    assert.ok(
      trace.some((s) => s.name === 'publish ImageEmbedded'),
      'the embedding published',
    );
    assert.ok(trace.some(appliedEmbeddingToIndex), 'applied to the vector index');
    const spanIds = new Set(trace.map((s) => s.spanId));
    const roots = trace.filter((s) => !spanIds.has(s.parentSpanId));
    assert.equal(
      roots.length,
      1,
      `one root (the request), found: ${roots.map((r) => `${r.service}:${r.name}`).join(', ')}`,
    );

    // Metrics parse, and the ingest moved the series.
    const after = new Map<DeepLensProcessName, Map<string, number>>();
    for (const [name, url] of Object.entries(deeplens.metricsUrls) as [DeepLensProcessName, string][]) {
      after.set(name, parsePrometheus(await (await fetch(url)).text()));
    }
    const moved = (name: DeepLensProcessName, metric: string) =>
      sum(after.get(name)!, metric) - sum(before.get(name)!, metric);
    assert.ok(moved('write-api', 'deeplens_http_request_duration_seconds_count') >= names.length);
    assert.ok(moved('relay', 'deeplens_outbox_publish_latency_seconds_count') >= names.length * 2);
    assert.ok(moved('embedder', 'deeplens_embedding_latency_seconds_count') >= 1);
    assert.ok(moved('projectors', 'deeplens_events_applied_total') >= names.length * 2);
    assert.ok(
      [...after.get('projectors')!.keys()].some((k) => k.startsWith('deeplens_consumer_lag{')),
      'consumer lag per partition',
    );
    assert.ok([...after.get('embedder')!.keys()].some((k) => k.startsWith('deeplens_consumer_lag{')));
    assert.ok(moved('read-api', 'deeplens_http_request_duration_seconds_count') >= 1);

    // Logs: JSON lines, trace ids inside spans, and no secret anywhere.
    await sleep(500);
    const lines = deeplens.output;
    assert.ok(lines.length > 10);
    assert.ok(
      lines.some((l) => l.includes(`"trace_id":"${traceId}"`)),
      'log lines carry the trace id',
    );
    for (const secret of secrets) {
      assert.equal(
        lines.filter((l) => l.includes(secret)).length,
        0,
        `a secret (${secret.slice(0, 6)}…) leaked into the logs`,
      );
    }
    assert.equal(
      lines.filter((l) => /"(password|secret|token|api_key|authorization)":/i.test(l)).length,
      0,
      'no secret-named field in any log line',
    );
  });
});
