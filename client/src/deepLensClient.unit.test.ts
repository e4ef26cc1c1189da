import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { ForbiddenError, ValidationError } from '@deeplens/platform/errors';
import { problemErrorHandler } from '@deeplens/platform/http/problem';
import { createLogger } from '@deeplens/platform/logger';
import { DeepLensApiError, DeepLensTimeoutError, DeepLensUnreachableError } from './clientErrors.ts';
import { createDeepLensClient } from './deepLensClient.ts';

const urls = { writeUrl: 'http://write.test', readUrl: 'http://read.test' };
const quiet = createLogger({}, 'error', () => undefined);

/** A stand-in server with the real problem+json error handler of both APIs. */
function server() {
  const app = new Hono();
  app.onError(problemErrorHandler(quiet));
  return app;
}

const fakeToken = (claims: object) =>
  ['e30', Buffer.from(JSON.stringify(claims)).toString('base64url'), 'signature'].join('.');

describe('createDeepLensClient', () => {
  it('turns a problem+json answer into a DeepLensApiError carrying the problem', async () => {
    const app = server();
    app.post('/v1/tenants', () => {
      throw new ForbiddenError('only a platform admin provisions tenants', {
        detail: { role: 'tenant_user' },
      });
    });
    const client = createDeepLensClient({ ...urls, token: 't', fetch: (r) => app.fetch(r) });
    const error = await client.createTenant({ slug: 'acme', name: 'Acme' }).catch((e: unknown) => e);
    assert.ok(error instanceof DeepLensApiError);
    assert.equal(error.status, 403);
    assert.equal(error.code, 'forbidden');
    assert.equal(error.retriable, false);
    assert.equal(error.problem.detail, 'only a platform admin provisions tenants');
    assert.equal(error.problem['role'], 'tenant_user');
    assert.equal(error.problem.instance, '/v1/tenants');
    assert.equal(error.request, 'POST /v1/tenants');
    assert.equal(error.message, 'only a platform admin provisions tenants (403 forbidden)');
  });

  it('makes a problem of an answer that is not problem+json', async () => {
    const client = createDeepLensClient({
      ...urls,
      fetch: async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
    });
    const error = await client.getImage('00000000-0000-4000-8000-000000000001').catch((e: unknown) => e);
    assert.ok(error instanceof DeepLensApiError);
    assert.deepEqual(
      { status: error.status, code: error.code, retriable: error.retriable, detail: error.problem.detail },
      { status: 502, code: 'http_502', retriable: true, detail: '<html>bad gateway</html>' },
    );
  });

  it('says which server it could not reach', async () => {
    const client = createDeepLensClient({
      ...urls,
      fetch: async () => {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
        });
      },
    });
    const error = await client.usage('00000000-0000-4000-8000-000000000001').catch((e: unknown) => e);
    assert.ok(error instanceof DeepLensUnreachableError);
    assert.equal(error.message, 'cannot reach http://read.test (ECONNREFUSED)');
  });

  it('retries a 429 after Retry-After, and answers the retry', async () => {
    let calls = 0;
    const fetch = async () =>
      ++calls === 1
        ? Response.json(
            { status: 429, code: 'limit_exceeded', detail: 'slow down' },
            {
              status: 429,
              headers: { 'retry-after': '0' },
            },
          )
        : Response.json({ groups: [] });
    const retries: number[] = [];
    const client = createDeepLensClient({
      ...urls,
      fetch,
      retry: { onRetry: (e) => retries.push(e.waitMs) },
    });
    assert.deepEqual(await client.duplicates({ threshold: 0.9 }), { groups: [] });
    assert.equal(calls, 2);
    assert.deepEqual(retries, [0]);
  });

  it('reads an image’s whole history, following nextCursor', async () => {
    const id = '00000000-0000-4000-8000-000000000001';
    const event = (version: number) => ({
      version,
      eventId: `e${version}`,
      type: 'ImageMetadataUpdated',
      occurredAt: new Date(version).toISOString(),
      actor: { kind: 'user', id: 'u' },
      correlationId: `c${version}`,
      causationId: null,
      changes: {},
      details: {},
      logPosition: `deeplens.image.v1:0:${version}`,
    });
    const asked: string[] = [];
    const app = server();
    app.get('/v1/images/:id/history', (c) => {
      asked.push(c.req.url.slice(c.req.url.indexOf('?')));
      const after = c.req.query('cursor') === undefined ? 0 : 2;
      return c.json({
        imageId: c.req.param('id'),
        items: after === 0 ? [event(1), event(2)] : [event(3)],
        nextCursor: after === 0 ? 'next' : null,
      });
    });
    const client = createDeepLensClient({ ...urls, token: 't', fetch: (r) => app.fetch(r) });
    const history = await client.imageHistory(id);
    assert.deepEqual(
      history.map((e) => e.version),
      [1, 2, 3],
    );
    assert.deepEqual(asked, ['?limit=500', '?limit=500&cursor=next']);
  });

  it('sends a bearer token, else the API key', async () => {
    const seen: (string | null)[] = [];
    const fetch = async (request: Request) => {
      seen.push(request.headers.get('authorization') ?? request.headers.get('x-api-key'));
      return Response.json({ tenantId: 't', images: 0, bytes: 0 });
    };
    await createDeepLensClient({ ...urls, fetch, token: 'jwt', apiKey: 'dl_x' }).usage('t');
    await createDeepLensClient({ ...urls, fetch, apiKey: 'dl_x' }).usage('t');
    assert.deepEqual(seen, ['Bearer jwt', 'dl_x']);
  });

  it('signs in, then carries the access token; usage() defaults to the token’s tenant', async () => {
    const app = server();
    const tenantId = '11111111-1111-4111-8111-111111111111';
    const access = fakeToken({
      sub: 'u1',
      tenant_id: tenantId,
      role: 'tenant_user',
      scope: 'search',
      exp: 2e9,
    });
    app.post('/v1/auth/token', async (c) => {
      const body = await c.req.json<{ grant_type: string; email: string; password: string }>();
      if (body.password !== 'correct horse battery') throw new ValidationError('bad');
      return c.json({ access_token: access, token_type: 'Bearer', expires_in: 900, refresh_token: 'r1' });
    });
    app.get('/v1/tenants/:id/usage', (c) =>
      c.json({ tenantId: c.req.param('id'), images: 3, bytes: 42, auth: c.req.header('authorization') }),
    );
    const client = createDeepLensClient({ ...urls, fetch: (r) => app.fetch(r) });
    const tokens = await client.signIn({ email: 'a@example.com', password: 'correct horse battery' });
    assert.deepEqual(tokens, {
      accessToken: access,
      tokenType: 'Bearer',
      expiresIn: 900,
      refreshToken: 'r1',
    });
    assert.deepEqual(await client.usage(), { tenantId, images: 3, bytes: 42, auth: `Bearer ${access}` });
  });

  it('uploads files as multipart with tags, attributes and an Idempotency-Key', async () => {
    const app = server();
    const received: unknown[] = [];
    app.post('/v1/images', async (c) => {
      const form = await c.req.formData();
      const file = form.get('file') as File;
      received.push({
        key: c.req.header('idempotency-key'),
        name: file.name,
        type: file.type,
        bytes: [...new Uint8Array(await file.arrayBuffer())],
        tags: form.get('tags'),
        attributes: form.get('attributes'),
      });
      c.header('idempotent-replayed', 'true');
      return c.json({ images: [{ id: 'i1', status: 'uploaded', filename: file.name }] }, 202);
    });
    const client = createDeepLensClient({ ...urls, token: 't', fetch: (r) => app.fetch(r) });
    const result = await client.uploadImages(
      [{ filename: 'cat.png', bytes: new Uint8Array([1, 2, 3]), type: 'image/png' }],
      {
        tags: ['cats', 'pets'],
        attributes: { camera: 'x100' },
        idempotencyKey: 'k-1',
      },
    );
    assert.deepEqual(received, [
      {
        key: 'k-1',
        name: 'cat.png',
        type: 'image/png',
        bytes: [1, 2, 3],
        tags: '["cats","pets"]',
        attributes: '{"camera":"x100"}',
      },
    ]);
    assert.equal(result.replayed, true);
    assert.equal(result.images[0]?.id, 'i1');
  });

  it('waits until images are indexed or failed, counting a 404 as not visible yet', async () => {
    const answers: Record<string, string[]> = {
      a: ['404', 'uploaded', 'indexed'],
      b: ['embedded', 'failed'],
    };
    const app = server();
    app.get('/v1/images/:id', (c) => {
      const id = c.req.param('id');
      const status = answers[id]!.length > 1 ? answers[id]!.shift()! : answers[id]![0]!;
      if (status === '404') return c.json({ status: 404, code: 'not_found', detail: 'no image' }, 404);
      return c.json({ id, status });
    });
    const client = createDeepLensClient({ ...urls, fetch: (r) => app.fetch(r) });
    const images = await client.waitUntilIndexed(['a', 'b'], 5_000, { pollIntervalMs: 1 });
    assert.deepEqual(
      images.map((i) => [i.id, i.status]),
      [
        ['a', 'indexed'],
        ['b', 'failed'],
      ],
    );

    const stuck = createDeepLensClient({
      ...urls,
      fetch: async () => Response.json({ id: 'c', status: 'embedded' }),
    });
    const error = await stuck.waitUntilIndexed(['c'], 20, { pollIntervalMs: 5 }).catch((e: unknown) => e);
    assert.ok(error instanceof DeepLensTimeoutError);
    assert.deepEqual(error.pending, [{ id: 'c', status: 'embedded' }]);
  });
});
