import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { createWebGateway, csrfHeader, sessionCookie } from './webGateway.ts';
import { claimsOf, createWebSessionStore } from './webSessions.ts';

/** A port nothing listens on: the APIs are "down" for these tests, as they may be in life. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const files = new Map([
  [
    '/index.html',
    { bytes: Buffer.from('<!doctype html><title>app</title>'), type: 'text/html; charset=utf-8' },
  ],
  ['/assets/app-1.js', { bytes: Buffer.from('export {}'), type: 'text/javascript; charset=utf-8' }],
]);

async function gateway() {
  const port = await closedPort();
  const sessions = createWebSessionStore({ idleMs: 60_000, maxSessions: 100 });
  const { app } = createWebGateway(
    {
      writeUrl: `http://127.0.0.1:${port}`,
      readUrl: `http://127.0.0.1:${port}`,
      staticDir: '/nowhere',
      sessions,
    },
    files,
  );
  const session = sessions.create({
    accessToken: 'header.payload.signature',
    accessExpiresAt: Date.now() + 600_000,
    subject: 'user:1',
    tenantId: 't1',
    role: 'tenant_user',
    scopes: ['images:read'],
  });
  return { app, sessions, cookie: `${sessionCookie}=${session.id}` };
}

const json = { 'content-type': 'application/json' };

describe('web gateway', () => {
  it('sets a strict CSP, nosniff and no framing on pages and API answers', async () => {
    const { app } = await gateway();
    for (const path of ['/', '/search', '/api/session', '/api/read/v1/images']) {
      const answer = await app.request(path);
      const csp = answer.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, path);
      assert.match(csp, /script-src 'self'/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.equal(answer.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(answer.headers.get('x-frame-options'), 'DENY', path);
    }
  });

  it('answers app paths with the app, built assets as themselves, anything else with 404', async () => {
    const { app } = await gateway();
    for (const path of ['/', '/browse', '/images/abc-123', '/signin']) {
      const answer = await app.request(path);
      assert.equal(answer.status, 200, path);
      assert.match(await answer.text(), /<title>app<\/title>/);
    }
    const asset = await app.request('/assets/app-1.js');
    assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await app.request('/assets/missing.js')).status, 404);
    // A path outside the build is at most the app itself, never a file from the disk.
    assert.doesNotMatch(await (await app.request('/../../etc/passwd')).text(), /root:/);
    assert.equal((await app.request('/%2e%2e/%2e%2e/etc/passwd.txt')).status, 404);
    assert.equal((await app.request('/web/src/main.ts')).status, 404);
  });

  it('refuses an unsafe request without the CSRF header, from another origin or from another site', async () => {
    const { app, cookie } = await gateway();
    const body = JSON.stringify({ tags: ['x'] });
    const cases: [string, Record<string, string>][] = [
      ['no header', { cookie, ...json }],
      ['wrong value', { cookie, ...json, [csrfHeader]: 'yes' }],
      ['other origin', { cookie, ...json, [csrfHeader]: '1', origin: 'https://evil.example' }],
      ['cross-site', { cookie, ...json, [csrfHeader]: '1', 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [name, headers] of cases)
      for (const [method, path] of [
        ['PATCH', '/api/write/v1/images/abc'],
        ['POST', '/api/session'],
        ['DELETE', '/api/session'],
      ] as const) {
        const answer = await app.request(path, { method, headers, body: method === 'DELETE' ? null : body });
        assert.equal(answer.status, 403, `${name}: ${method} ${path}`);
        assert.equal(answer.headers.get('content-type'), 'application/problem+json');
        const problem = (await answer.json()) as { status: number; code: string; detail: string };
        assert.equal(problem.status, 403);
        assert.equal(problem.code, 'forbidden');
      }
  });

  it('forwards nothing without a session, and only /v1 paths with one', async () => {
    const { app, cookie } = await gateway();
    assert.equal((await app.request('/api/read/v1/images')).status, 401);
    assert.equal(
      (await app.request('/api/read/v1/images', { headers: { cookie: `${sessionCookie}=forged` } })).status,
      401,
    );
    for (const path of [
      '/api/read/metrics',
      '/api/read/readyz',
      '/api/read/v1/%2e%2e/metrics',
      '/api/read/v1/images/%2F..%2Fmetrics',
      '/api/write//v1/images',
      '/api/other/v1/images',
    ]) {
      const answer = await app.request(path, { headers: { cookie } });
      assert.equal(answer.status, 404, path);
    }
  });

  it('answers 502 problem+json, not a crash, when an API does not answer', async () => {
    const { app, cookie } = await gateway();
    const read = await app.request('/api/read/v1/images', { headers: { cookie } });
    assert.equal(read.status, 502);
    assert.equal(read.headers.get('content-type'), 'application/problem+json');
    const signIn = await app.request('/api/session', {
      method: 'POST',
      headers: { ...json, [csrfHeader]: '1' },
      body: JSON.stringify({ email: 'a@b.example', password: 'x' }),
    });
    assert.equal(signIn.status, 502);
  });

  it('refuses a sign-in body that is not an e-mail and password or an API key', async () => {
    const { app } = await gateway();
    for (const body of [
      'not json',
      '[]',
      '{}',
      '{"email":"a@b.example"}',
      `{"apiKey":"${'k'.repeat(600)}"}`,
    ]) {
      const answer = await app.request('/api/session', {
        method: 'POST',
        headers: { ...json, [csrfHeader]: '1' },
        body,
      });
      assert.equal(answer.status, 400, body.slice(0, 40));
      assert.equal(answer.headers.get('content-type'), 'application/problem+json');
    }
  });

  it('describes the session without any token, and signing out ends it and clears the cookie', async () => {
    const { app, cookie, sessions } = await gateway();
    const described = await app.request('/api/session', { headers: { cookie } });
    const text = await described.text();
    assert.match(text, /"signedIn":true/);
    assert.doesNotMatch(text, /header\.payload\.signature/);
    const out = await app.request('/api/session', {
      method: 'DELETE',
      headers: { cookie, [csrfHeader]: '1' },
    });
    assert.equal(out.status, 204);
    assert.match(
      out.headers.get('set-cookie') ?? '',
      new RegExp(`${sessionCookie}=;.*Max-Age=0.*HttpOnly.*SameSite=Strict`, 'i'),
    );
    assert.equal(sessions.size, 0);
    assert.deepEqual(await (await app.request('/api/session', { headers: { cookie } })).json(), {
      signedIn: false,
    });
  });
});

describe('web sessions', () => {
  const fields = {
    accessToken: 't',
    accessExpiresAt: 0,
    subject: 's',
    tenantId: null,
    role: 'tenant_user',
    scopes: [],
  };

  it('end when idle too long, and the least recently used goes first when full', () => {
    let now = 0;
    const store = createWebSessionStore({ idleMs: 1_000, maxSessions: 2, now: () => now });
    const a = store.create(fields);
    const b = store.create(fields);
    assert.notEqual(a.id, b.id);
    assert.ok(a.id.length >= 43, 'a 256-bit id');
    now = 500;
    assert.ok(store.get(a.id), 'a is used: b is now the stalest');
    const c = store.create(fields);
    assert.equal(store.get(b.id), undefined, 'b was dropped to make room');
    assert.ok(store.get(a.id) && store.get(c.id));
    now = 2_000;
    assert.equal(store.get(a.id), undefined, 'idle for over a second');
    assert.equal(store.get(undefined), undefined);
  });

  it('reads the claims of an access token, and nothing from a malformed one', () => {
    const payload = Buffer.from(
      JSON.stringify({
        sub: 'user:1',
        tenant_id: 't1',
        role: 'tenant_admin',
        scope: 'images:read search',
        exp: 10,
      }),
    ).toString('base64url');
    assert.deepEqual(claimsOf(`h.${payload}.s`), {
      subject: 'user:1',
      tenantId: 't1',
      role: 'tenant_admin',
      scopes: ['images:read', 'search'],
      expiresAt: 10_000,
    });
    assert.deepEqual(claimsOf('garbage'), {
      subject: '',
      tenantId: null,
      role: '',
      scopes: [],
      expiresAt: 0,
    });
  });
});
