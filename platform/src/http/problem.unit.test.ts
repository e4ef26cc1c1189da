import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import {
  ConcurrencyError,
  LimitExceededError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
} from '../errors.ts';
import { createLogger } from '../logger.ts';
import { notFoundHandler, problemErrorHandler, toProblem } from './problem.ts';

describe('toProblem', () => {
  it('maps our errors with their code, status, message and detail', () => {
    assert.deepEqual(toProblem(new NotFoundError('image img-1 not found'), '/v1/images/img-1'), {
      type: 'urn:deeplens:problem:not_found',
      title: 'Not Found',
      status: 404,
      detail: 'image img-1 not found',
      instance: '/v1/images/img-1',
      code: 'not_found',
      retriable: false,
    });
    const conflict = toProblem(new ConcurrencyError('moved on', { detail: { expectedVersion: 3 } }));
    assert.equal(conflict.status, 409);
    assert.equal(conflict.code, 'concurrency_conflict');
    assert.equal(conflict.retriable, true);
    assert.equal(conflict.expectedVersion, 3);
    assert.equal('instance' in conflict, false);
    assert.equal(toProblem(new UnavailableError('Kafka is down')).status, 503);
  });

  it('never lets detail members override the standard ones', () => {
    const problem = toProblem(
      new ValidationError('bad', { detail: { status: 200, code: 'ok', field: 'k' } }),
    );
    assert.equal(problem.status, 400);
    assert.equal(problem.code, 'validation_failed');
    assert.equal(problem.field, 'k');
  });

  it("maps Hono's HTTPException by status", () => {
    const tooLarge = toProblem(new HTTPException(413, { message: 'body over 10 MiB' }), '/v1/images');
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.code, 'payload_too_large');
    assert.equal(tooLarge.detail, 'body over 10 MiB');
    assert.equal(toProblem(new HTTPException(418)).code, 'http_418');
    assert.equal(
      toProblem(new HTTPException(502, { message: 'upstream 10.0.0.7 said no' })).detail,
      'Bad Gateway',
    );
  });

  it('hides everything about an unknown error behind a 500', () => {
    const problem = toProblem(new Error('connect to postgres://admin:hunter2@db failed'), '/v1/search');
    assert.deepEqual(problem, {
      type: 'urn:deeplens:problem:internal_error',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred; it has been logged.',
      instance: '/v1/search',
      code: 'internal_error',
      retriable: false,
    });
    assert.equal(toProblem('a string was thrown').status, 500);
  });

  it('takes a configured type base', () => {
    const problem = toProblem(new NotFoundError('x'), undefined, {
      typeBase: 'https://docs.example/problems/',
    });
    assert.equal(problem.type, 'https://docs.example/problems/not_found');
  });
});

describe('problemErrorHandler', () => {
  function appWithLog() {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ service: 'test' }, 'info', (line) =>
      lines.push(JSON.parse(line) as Record<string, unknown>),
    );
    const app = new Hono();
    app.onError(problemErrorHandler(log));
    app.notFound(notFoundHandler());
    return { app, lines };
  }

  it('answers problem+json and logs server errors with the error, never leaking it', async () => {
    const { app, lines } = appWithLog();
    app.get('/boom', () => {
      throw new Error('secret=hunter2', { cause: new Error('socket hang up') });
    });
    const response = await app.request('/boom?token=abc');
    assert.equal(response.status, 500);
    assert.equal(response.headers.get('Content-Type'), 'application/problem+json');
    const body = await response.text();
    assert.doesNotMatch(body, /hunter2|socket|token=abc/);
    assert.equal((JSON.parse(body) as { instance: string }).instance, '/boom');

    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.level, 'error');
    assert.equal(line.status, 500);
    assert.deepEqual((line.error as { message: string }).message, 'secret=hunter2');
    assert.match(line.stack as string, /problem\.unit\.test\.ts/);
  });

  it('does not log client errors at info level', async () => {
    const { app, lines } = appWithLog();
    app.get('/missing', () => {
      throw new NotFoundError('image x not found');
    });
    const response = await app.request('/missing');
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { detail: string }).detail, 'image x not found');
    assert.equal(lines.length, 0);
  });

  it('adds Retry-After from retryAfterSeconds and a default challenge to 401s', async () => {
    const { app } = appWithLog();
    app.get('/busy', () => {
      throw new LimitExceededError('slow down', { detail: { retryAfterSeconds: 7 } });
    });
    app.get('/who', () => {
      throw new UnauthenticatedError('who are you');
    });
    const busy = await app.request('/busy');
    assert.equal(busy.status, 429);
    assert.equal(busy.headers.get('Retry-After'), '7');
    assert.equal(((await busy.json()) as { retryAfterSeconds: number }).retryAfterSeconds, 7);
    const who = await app.request('/who');
    assert.equal(who.status, 401);
    assert.equal(who.headers.get('WWW-Authenticate'), 'Bearer realm="deeplens"');
  });

  it("keeps the headers of an HTTPException's own response", async () => {
    const { app } = appWithLog();
    app.get('/basic', () => {
      const res = new Response('no', { headers: { 'WWW-Authenticate': 'Basic realm="x"' } });
      throw new HTTPException(401, { res, message: 'Unauthorized' });
    });
    const response = await app.request('/basic');
    assert.equal(response.headers.get('WWW-Authenticate'), 'Basic realm="x"');
    assert.equal(response.headers.get('Content-Type'), 'application/problem+json');
  });

  it('answers unknown routes with a problem+json 404', async () => {
    const { app } = appWithLog();
    const response = await app.request('/v1/nope', { method: 'POST' });
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('Content-Type'), 'application/problem+json');
    assert.deepEqual(await response.json(), {
      type: 'urn:deeplens:problem:not_found',
      title: 'Not Found',
      status: 404,
      detail: 'No route for POST /v1/nope',
      instance: '/v1/nope',
      code: 'not_found',
      retriable: false,
    });
  });
});
