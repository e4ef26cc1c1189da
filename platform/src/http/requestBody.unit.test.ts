import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { z } from 'zod';
import { createLogger } from '../logger.ts';
import { problemErrorHandler } from './problem.ts';
import { jsonBody, limitBody } from './requestBody.ts';

const quiet = createLogger({}, 'error', () => undefined);

function app() {
  const api = new Hono();
  api.onError(problemErrorHandler(quiet));
  let parsed = 0;
  api.use('/v1/auth/*', limitBody(16 * 1024));
  api.use('*', limitBody(1024 * 1024, 8 * 1024 * 1024));
  api.post('*', async (c) => {
    const body = await jsonBody(c, z.object({ attributes: z.record(z.string(), z.string()) }).partial());
    parsed++;
    return c.json(body);
  });
  return { api, parsed: () => parsed };
}

const json = (body: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body,
});

describe('limitBody: bodies refused before anything parses them', () => {
  it('refuses an unauthenticated route body over 16 KiB by its Content-Length, unread (413)', async () => {
    const { api, parsed } = app();
    const huge = `{"attributes":{"a":"${'x'.repeat(64 * 1024)}"}}`;
    const refused = await api.request('/v1/auth/token', json(huge));
    assert.equal(refused.status, 413);
    assert.equal(((await refused.json()) as { code: string }).code, 'payload_too_large');
    assert.equal(parsed(), 0);
    assert.equal((await api.request('/v1/images', json(huge))).status, 200, 'elsewhere 64 KiB is fine');
  });

  it('counts a streamed body without Content-Length and stops it at the limit', async () => {
    const { api, parsed } = app();
    const chunk = new TextEncoder().encode(' '.repeat(1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent++;
        if (sent > 100_000) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const refused = await api.request('/v1/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    });
    assert.equal(refused.status, 413);
    assert.equal(parsed(), 0);
    assert.ok(sent < 100, `read ${sent} KiB of a 100 MiB body`);
  });

  it('allows multipart bodies the upload limit, JSON bodies only the small one', async () => {
    const { api } = app();
    const twoMiB = ' '.repeat(2 * 1024 * 1024);
    assert.equal((await api.request('/v1/images', json(twoMiB))).status, 413);
    const multipart = await api.request('/v1/images', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      body: twoMiB,
    });
    assert.equal(multipart.status, 415, 'past the limit check, refused by the JSON route');
  });
});

describe('jsonBody: prototype keys', () => {
  it('refuses __proto__, constructor and prototype keys at any depth with 400 naming the place', async () => {
    const { api } = app();
    for (const [body, path] of [
      ['{"attributes":{"__proto__":"x"}}', 'attributes.__proto__'],
      ['{"__proto__":{"admin":true}}', '__proto__'],
      ['{"attributes":{"constructor":"x"}}', 'attributes.constructor'],
      ['{"attributes":{"ok":"1","prototype":"x"}}', 'attributes.prototype'],
    ] as const) {
      const refused = await api.request('/v1/images', json(body));
      assert.equal(refused.status, 400, body);
      const problem = (await refused.json()) as { code: string; path: string };
      assert.equal(problem.code, 'validation_failed');
      assert.equal(problem.path, path);
    }
    const fine = await api.request('/v1/images', json('{"attributes":{"proto":"x","__a__":"y"}}'));
    assert.equal(fine.status, 200);
  });
});
