import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { claimsOf, createWebSessionStore, type WebSession, type WebSessionStore } from './webSessions.ts';

/** The header every unsafe request to `/api/*` must carry (a cross-site form or script cannot). */
export const csrfHeader = 'x-deeplens-csrf';
export const sessionCookie = 'deeplens_session';

/** Every page and answer: no inline script or style, no framing, nothing from elsewhere. */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export type WebGatewayOptions = {
  /** Base URLs of the APIs, e.g. `http://127.0.0.1:8080`. */
  writeUrl: string;
  readUrl: string;
  /** The built single-page app (`web/dist`). */
  staticDir: string;
  /** `Secure` cookies; by default when the request arrived over https. */
  secureCookies?: boolean;
  sessions?: WebSessionStore;
  /** Another fetch towards the APIs (tests); `globalThis.fetch` otherwise. */
  fetch?: typeof globalThis.fetch;
  /** Tell the APIs the browser's address (for their sign-in throttle) in X-Forwarded-For. */
  clientAddress?: (c: Context) => string | undefined;
};

type Problem = { status: number; title: string; detail: string };

/** A problem+json answer shaped as the APIs' own (`code` is the title in snake case). */
function problem({ status, title, detail }: Problem): Response {
  const code = title.toLowerCase().replace(/\W+/g, '_');
  return new Response(
    JSON.stringify({ type: 'about:blank', title, status, detail, code, retriable: status >= 500 }),
    { status, headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' } },
  );
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};

/** Every file of the built app, read once: it is small, and nothing outside it is ever served. */
export async function loadStaticFiles(dir: string): Promise<Map<string, { bytes: Buffer; type: string }>> {
  const files = new Map<string, { bytes: Buffer; type: string }>();
  async function walk(folder: string): Promise<void> {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else
        files.set(`/${relative(dir, path).split('\\').join('/')}`, {
          bytes: await readFile(path),
          type: contentTypes[extname(entry.name)] ?? 'application/octet-stream',
        });
    }
  }
  await walk(dir);
  if (!files.has('/index.html')) throw new Error(`${dir} holds no index.html: build the web app first`);
  return files;
}

/** Request headers passed on to the APIs; the browser's cookies and any credential never are. */
const forwardedRequestHeaders = ['accept', 'content-type', 'idempotency-key', 'if-none-match', 'if-match'];
/** Answer headers passed back; a `set-cookie` from upstream never is. */
const forwardedResponseHeaders = [
  'content-type',
  'content-length',
  'cache-control',
  'etag',
  'last-modified',
  'location',
  'retry-after',
  'idempotent-replayed',
  'x-request-id',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
];

const unsafeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** What a path forwarded to an API may look like: `/v1/…`, no dot segments, no encoded slashes. */
const forwardablePath = /^\/v1\/(?:[A-Za-z0-9_~-]|%[0-9A-Fa-f]{2}|\.(?!\.)|\/(?!\/))*$/;

/**
 * The web interface's server: the built single-page app, and a same-origin gateway to the two
 * APIs that keeps the session's tokens on the server. The browser holds only an HttpOnly,
 * SameSite=Strict cookie naming the session; `/api/write/*` and `/api/read/*` are forwarded with
 * the session's Bearer token, so no script in the page can ever read a credential.
 */
export function createWebGateway(
  options: WebGatewayOptions,
  files: Map<string, { bytes: Buffer; type: string }>,
) {
  const sessions = options.sessions ?? createWebSessionStore({ idleMs: 12 * 3600_000, maxSessions: 10_000 });
  const upstream = options.fetch ?? globalThis.fetch;
  const app = new Hono();

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', contentSecurityPolicy);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('X-Frame-Options', 'DENY');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
    c.header('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  });

  // CSRF: the cookie is SameSite=Strict, and an unsafe request must also carry a header that a
  // cross-site form cannot set and a cross-site script cannot send without a CORS preflight,
  // which this server never grants. A browser's own word on where the request comes from counts too.
  app.use('/api/*', async (c, next) => {
    if (unsafeMethods.has(c.req.method)) {
      const site = c.req.header('sec-fetch-site');
      const origin = c.req.header('origin');
      const ownOrigin = new URL(c.req.url).origin;
      if (c.req.header(csrfHeader) !== '1')
        return problem({ status: 403, title: 'Forbidden', detail: `missing the ${csrfHeader} header` });
      if ((site && site !== 'same-origin' && site !== 'none') || (origin && origin !== ownOrigin))
        return problem({ status: 403, title: 'Forbidden', detail: 'cross-site request refused' });
    }
    c.header('Cache-Control', 'no-store');
    await next();
  });

  const secure = (c: Context) => options.secureCookies ?? new URL(c.req.url).protocol === 'https:';

  function startSession(c: Context, session: WebSession): void {
    setCookie(c, sessionCookie, session.id, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: secure(c),
      path: '/',
    });
  }

  function describe(session: WebSession) {
    return {
      signedIn: true,
      email: session.email ?? null,
      subject: session.subject,
      tenantId: session.tenantId,
      role: session.role,
      scopes: session.scopes,
      via: session.apiKey ? 'api_key' : 'password',
    };
  }

  function forwardedFor(c: Context): Record<string, string> {
    const address = options.clientAddress?.(c);
    return address ? { 'x-forwarded-for': address } : {};
  }

  async function token(c: Context, body: Record<string, string>): Promise<Response> {
    return upstream(`${options.writeUrl}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...forwardedFor(c) },
      body: JSON.stringify(body),
    });
  }

  /** Passes the API's problem on as it is (a 401 stays a 401, a 429 keeps its Retry-After). */
  async function passOn(c: Context, answer: Response): Promise<Response> {
    const headers = new Headers({ 'content-type': answer.headers.get('content-type') ?? 'application/json' });
    const retryAfter = answer.headers.get('retry-after');
    if (retryAfter) headers.set('retry-after', retryAfter);
    headers.set('cache-control', 'no-store');
    return new Response(await answer.arrayBuffer(), { status: answer.status, headers });
  }

  app.get('/api/session', (c) => {
    const session = sessions.get(getCookie(c, sessionCookie));
    return c.json(session ? describe(session) : { signedIn: false });
  });

  app.post('/api/session', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return problem({ status: 400, title: 'Bad Request', detail: 'the body is not JSON' });
    }
    const { email, password, apiKey } = (typeof body === 'object' && body !== null ? body : {}) as Record<
      string,
      unknown
    >;
    let grant: Record<string, string>;
    if (typeof apiKey === 'string' && apiKey.length > 0 && apiKey.length <= 512)
      grant = { grant_type: 'api_key', api_key: apiKey };
    else if (
      typeof email === 'string' &&
      typeof password === 'string' &&
      email.length <= 320 &&
      password.length <= 1024
    )
      grant = { grant_type: 'password', email, password };
    else
      return problem({
        status: 400,
        title: 'Bad Request',
        detail: 'give an e-mail and a password, or an API key',
      });
    const answer = await token(c, grant).catch(() => undefined);
    if (!answer)
      return problem({ status: 502, title: 'Bad Gateway', detail: 'the write API did not answer' });
    if (!answer.ok) return passOn(c, answer);
    const tokens = (await answer.json()) as {
      access_token: string;
      expires_in: number;
      refresh_token?: string;
    };
    const claims = claimsOf(tokens.access_token);
    // A session already open in this browser ends: a new sign-in never inherits an old id.
    const previous = getCookie(c, sessionCookie);
    if (previous) sessions.delete(previous);
    const session = sessions.create({
      accessToken: tokens.access_token,
      accessExpiresAt: Date.now() + tokens.expires_in * 1000,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      ...(grant.grant_type === 'api_key' ? { apiKey: grant.api_key! } : { email: grant.email! }),
      subject: claims.subject,
      tenantId: claims.tenantId,
      role: claims.role,
      scopes: claims.scopes,
    });
    startSession(c, session);
    return c.json(describe(session));
  });

  app.delete('/api/session', async (c) => {
    const id = getCookie(c, sessionCookie);
    const session = sessions.get(id);
    if (session) {
      sessions.delete(session.id);
      if (session.refreshToken)
        // Ends the refresh token's family at the write API too; signing out here never waits on it.
        await upstream(`${options.writeUrl}/v1/auth/logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: session.refreshToken }),
        }).catch(() => undefined);
    }
    deleteCookie(c, sessionCookie, { path: '/', secure: secure(c), httpOnly: true, sameSite: 'Strict' });
    return c.body(null, 204);
  });

  /** A fresh access token for the session, renewing it shortly before it runs out. */
  async function accessToken(c: Context, session: WebSession): Promise<string | undefined> {
    if (session.accessExpiresAt - Date.now() > 30_000) return session.accessToken;
    session.renewing ??= (async () => {
      const answer = session.refreshToken
        ? await upstream(`${options.writeUrl}/v1/auth/refresh`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...forwardedFor(c) },
            body: JSON.stringify({ refresh_token: session.refreshToken }),
          })
        : await token(c, { grant_type: 'api_key', api_key: session.apiKey ?? '' });
      if (!answer.ok) {
        await answer.body?.cancel();
        // Busy or down: the session stays, this request fails. Refused: the session is over.
        if (answer.status === 429 || answer.status >= 500)
          throw new Error(`renewal answered ${answer.status}`);
        sessions.delete(session.id);
        return;
      }
      const tokens = (await answer.json()) as {
        access_token: string;
        expires_in: number;
        refresh_token?: string;
      };
      session.accessToken = tokens.access_token;
      session.accessExpiresAt = Date.now() + tokens.expires_in * 1000;
      if (tokens.refresh_token) session.refreshToken = tokens.refresh_token;
    })().finally(() => {
      session.renewing = undefined;
    });
    await session.renewing;
    return sessions.get(session.id) ? session.accessToken : undefined;
  }

  for (const [prefix, base] of [
    ['/api/write', options.writeUrl],
    ['/api/read', options.readUrl],
  ] as const) {
    app.all(`${prefix}/*`, async (c) => {
      const session = sessions.get(getCookie(c, sessionCookie));
      if (!session) return problem({ status: 401, title: 'Unauthorized', detail: 'sign in first' });
      const url = new URL(c.req.url);
      const rawPath = url.pathname.slice(prefix.length);
      if (!forwardablePath.test(rawPath) || /(^|\/)(\.|%2e){1,2}(\/|$)/i.test(rawPath))
        return problem({ status: 404, title: 'Not Found', detail: 'no such API route' });
      let bearer: string | undefined;
      try {
        bearer = await accessToken(c, session);
      } catch {
        return problem({ status: 502, title: 'Bad Gateway', detail: 'the write API did not answer' });
      }
      if (!bearer) {
        deleteCookie(c, sessionCookie, { path: '/' });
        return problem({ status: 401, title: 'Unauthorized', detail: 'the session ended: sign in again' });
      }
      const headers = new Headers({ authorization: `Bearer ${bearer}`, ...forwardedFor(c) });
      for (const name of forwardedRequestHeaders) {
        const value = c.req.header(name);
        if (value !== undefined) headers.set(name, value);
      }
      const hasBody = c.req.method !== 'GET' && c.req.method !== 'HEAD';
      let answer: Response;
      try {
        answer = await upstream(`${base}${rawPath}${url.search}`, {
          method: c.req.method,
          headers,
          ...(hasBody ? { body: c.req.raw.body, duplex: 'half' } : {}),
          redirect: 'manual',
          signal: c.req.raw.signal,
        });
      } catch {
        return problem({ status: 502, title: 'Bad Gateway', detail: 'the API did not answer' });
      }
      const out = new Headers();
      for (const name of forwardedResponseHeaders) {
        const value = answer.headers.get(name);
        if (value !== null) out.set(name, value);
      }
      // Images may be kept by this browser a while; API answers never are.
      const isImage = c.req.method === 'GET' && /\/(thumbnail|content)$/.test(rawPath) && answer.ok;
      out.set('cache-control', isImage ? 'private, max-age=300' : 'no-store');
      return new Response(answer.body, { status: answer.status, headers: out });
    });
  }

  app.all('/api/*', () => problem({ status: 404, title: 'Not Found', detail: 'no such route' }));

  app.get('*', (c) => {
    const path = new URL(c.req.url).pathname;
    const file = files.get(path);
    if (file) {
      const immutable = path.startsWith('/assets/');
      return c.body(new Uint8Array(file.bytes), 200, {
        'content-type': file.type,
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
    // A path of the app (/search, /images/…): the app itself; a missing asset: 404.
    if (path.startsWith('/assets/') || extname(path) !== '')
      return c.text('not found', 404, { 'cache-control': 'no-store' });
    const index = files.get('/index.html')!;
    return c.body(new Uint8Array(index.bytes), 200, {
      'content-type': index.type,
      'cache-control': 'no-cache',
    });
  });

  app.all('*', (c) => c.text('method not allowed', 405));

  app.onError((error) => {
    console.error(JSON.stringify({ level: 'error', msg: 'web gateway error', error: String(error) }));
    return problem({ status: 500, title: 'Internal Server Error', detail: 'the web server failed' });
  });

  return { app, sessions };
}
