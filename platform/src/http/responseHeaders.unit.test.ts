import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { ValidationError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { metricsResponse } from './observeRequests.ts';
import { isClientAbort, problemErrorHandler } from './problem.ts';
import { responseHeaders } from './responseHeaders.ts';

const quiet = createLogger({}, 'error', () => undefined);

describe('responseHeaders', () => {
  it('nosniff on every answer; no-store on JSON and problems unless the route chose a policy', async () => {
    const api = new Hono();
    api.onError(problemErrorHandler(quiet));
    api.use('*', responseHeaders());
    api.get('/json', (c) => c.json({ a: 1 }));
    api.get('/cached', (c) => {
      c.header('Cache-Control', 'private, max-age=60');
      return c.json({ a: 1 });
    });
    api.get('/image', (c) => c.body('bytes', 200, { 'Content-Type': 'image/webp' }));
    api.get('/refused', () => {
      throw new ValidationError('no');
    });
    for (const [path, cache] of [
      ['/json', 'no-store'],
      ['/cached', 'private, max-age=60'],
      ['/image', null],
      ['/refused', 'no-store'],
    ] as const) {
      const response = await api.request(path);
      assert.equal(response.headers.get('X-Content-Type-Options'), 'nosniff', path);
      assert.equal(response.headers.get('Cache-Control'), cache, path);
    }
  });
});

describe('metricsResponse', () => {
  const token = 'a-metrics-token-of-some-length';
  const api = (configured: string | undefined) => {
    const app = new Hono();
    app.get('/metrics', (c) => metricsResponse(c, configured));
    return app;
  };
  it('answers only the configured bearer token; without one, not at all (404)', async () => {
    assert.equal((await api(token).request('/metrics')).status, 404);
    const wrong = { headers: { authorization: 'Bearer not-the-token-at-all!!' } };
    assert.equal((await api(token).request('/metrics', wrong)).status, 404);
    const right = await api(token).request('/metrics', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(right.status, 200);
    assert.match(await right.text(), /# HELP/);
    const unset = await api(undefined).request('/metrics', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(unset.status, 404);
  });
});

describe('client aborts', () => {
  it('are logged as aborts (info, 499), not as a 503 outage', async () => {
    const lines: string[] = [];
    const log = createLogger({}, 'debug', (line) => lines.push(line));
    const api = new Hono();
    api.onError(problemErrorHandler(log));
    api.post('/upload', () => {
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    });
    const response = await api.request('/upload', { method: 'POST', body: 'x' });
    assert.equal(response.status, 499);
    assert.equal(((await response.json()) as { code: string }).code, 'client_aborted');
    assert.ok(lines.some((l) => l.includes('request aborted by the client')));
    assert.ok(!lines.some((l) => /"level":"error"/.test(l)), lines.join('\n'));
    // Our own connection resets stay outages.
    const pgReset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const c = { req: { raw: new Request('http://x/') } } as Parameters<typeof isClientAbort>[1];
    assert.equal(isClientAbort(pgReset, c), false);
  });
});
