import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { z } from 'zod';
import { createLogger } from '../logger.ts';
import {
  assertAnswerDocumented,
  assertResponseDocumented,
  defineRoute,
  generateOpenApiDocument,
  numberFromText,
  OpenAPIRegistry,
  operationsOf,
  paramsOf,
  problemResponses,
  queryOf,
  registerProblemComponents,
  registerRoutes,
  routesOf,
  uuidPathParameter,
} from './openApiRegistry.ts';
import { problemErrorHandler } from './problem.ts';

const quiet = createLogger({}, 'error', () => undefined);

const routes = {
  list: defineRoute({
    method: 'get',
    path: '/v1/things/{id}',
    summary: 'Things',
    request: {
      params: z.object({ id: uuidPathParameter }),
      query: z
        .object({
          limit: numberFromText(z.number().int().min(1).max(10)).default(5),
          tag: z.array(z.string()).optional(),
        })
        .strict(),
    },
    responses: {
      200: {
        description: 'A thing',
        content: { 'application/json': { schema: z.object({ id: z.string() }) } },
      },
      ...problemResponses,
    },
  }),
};

function app() {
  const api = new Hono();
  api.onError(problemErrorHandler(quiet));
  api.use('*', async (_c, next) => next());
  api.get('/v1/things/:id', (c) => {
    const { id } = paramsOf(c, routes.list.request.params);
    return c.json({ id, ...queryOf(c, routes.list.request.query) });
  });
  return api;
}

const problemOf = async (response: Response) => {
  assert.equal(response.status, 400);
  return (await response.json()) as { detail: string; errors?: { path: string }[] };
};

describe('openApiRegistry: routes validated by their documented schemas', () => {
  it('parses the query by the schema: text to numbers, defaults, repeated parameters as arrays', async () => {
    const id = '0B8F4C1E-5D6A-4F3B-9C2D-1E2F3A4B5C6D';
    const answer = await app().request(`/v1/things/${id}?limit=7&tag=a&tag=b`);
    assert.deepEqual(await answer.json(), { id: id.toLowerCase(), limit: 7, tag: ['a', 'b'] });
    const defaults = await app().request(`/v1/things/${id}?tag=one`);
    assert.deepEqual(await defaults.json(), { id: id.toLowerCase(), limit: 5, tag: ['one'] });
  });

  it('answers 400 naming each bad or undeclared query parameter, and a bad path parameter', async () => {
    const id = '0b8f4c1e-5d6a-4f3b-9c2d-1e2f3a4b5c6d';
    const bad = await problemOf(await app().request(`/v1/things/${id}?limit=&other=1`));
    assert.deepEqual(bad.errors?.map((e) => e.path).sort(), ['', 'limit']);
    assert.equal(
      (await problemOf(await app().request(`/v1/things/${id}?limit=11`))).errors?.[0]?.path,
      'limit',
    );
    assert.match((await problemOf(await app().request('/v1/things/nope'))).detail, /id must be a UUID/);
  });

  it('generates a document with the shared problem answers and the route as declared', () => {
    const registry = new OpenAPIRegistry();
    registerProblemComponents(registry);
    registerRoutes(registry, routes);
    const document = generateOpenApiDocument(registry, { info: { title: 't', version: '1' } });
    assert.deepEqual(operationsOf(document), ['GET /v1/things/{id}']);
    assert.deepEqual(operationsOf(document), routesOf(app()));
    const operation = document.paths?.['/v1/things/{id}']?.get;
    assert.deepEqual(
      operation?.parameters?.map((p) => ('name' in p ? `${p.in}:${p.name}` : p.$ref)),
      ['path:id', 'query:limit', 'query:tag'],
    );
    assert.deepEqual(
      Object.keys(operation?.responses ?? {}).sort(),
      ['200', ...Object.keys(problemResponses)].sort(),
    );
    const problem = document.components?.schemas?.Problem as { required?: string[] };
    assert.deepEqual(problem.required, ['type', 'title', 'status', 'code']);
    assert.ok(document.components?.responses?.TooManyRequests);
    assert.ok(document.components?.headers?.['Retry-After']);
  });

  it('refuses an answer with a member the document does not declare, however deep', () => {
    const route = defineRoute({
      method: 'get',
      path: '/v1/nested',
      responses: {
        200: {
          description: 'Nested',
          content: {
            'application/json': {
              schema: z.object({
                items: z.array(
                  z.object({ id: z.string(), failure: z.object({ reason: z.string() }).nullable() }),
                ),
              }),
            },
          },
        },
      },
    });
    assertAnswerDocumented(route, 200, {
      items: [
        { id: 'a', failure: null },
        { id: 'b', failure: { reason: 'r' } },
      ],
    });
    assert.throws(
      () => assertAnswerDocumented(route, 200, { items: [{ id: 'a', failure: { reason: 'r', at: 1 } }] }),
      /items\.0\.failure.*Unrecognized key.*at/,
    );
    assert.throws(() => assertAnswerDocumented(route, 200, { items: [], extra: true }), /Unrecognized key/);
    assert.throws(() => assertAnswerDocumented(route, 201, {}), /documents no JSON answer for 201/);
  });

  it('checks a whole answer: its status, declared headers, body and problem answers', async () => {
    const route = defineRoute({
      method: 'post',
      path: '/v1/things',
      responses: {
        201: {
          description: 'Created',
          headers: z.object({ location: z.string() }),
          content: { 'application/json': { schema: z.object({ id: z.string() }) } },
        },
        202: { description: 'Nothing to say' },
        ...problemResponses,
      },
    });
    const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json', ...headers },
      });
    assert.deepEqual(await assertResponseDocumented(route, json({ id: 'a' }, 201, { location: '/a' })), {
      id: 'a',
    });
    await assert.rejects(assertResponseDocumented(route, json({ id: 'a' }, 201)), /lacks a declared header/);
    await assert.rejects(
      assertResponseDocumented(route, json({ id: 'a', extra: 1 }, 201, { location: '/a' })),
      /Unrecognized key/,
    );
    await assert.rejects(
      assertResponseDocumented(route, json({}, 418)),
      /418, which its document does not declare/,
    );
    assert.equal(await assertResponseDocumented(route, new Response(null, { status: 202 })), undefined);
    await assert.rejects(
      assertResponseDocumented(route, new Response('x', { status: 202 })),
      /answers a body it does not declare/,
    );
    const problem = {
      type: 'urn:deeplens:problem:validation',
      title: 'Bad',
      status: 400,
      code: 'validation',
    };
    const problemAnswer = (body: unknown) =>
      new Response(JSON.stringify(body), {
        status: 400,
        headers: { 'content-type': 'application/problem+json' },
      });
    // Extension members are allowed on a problem; a problem without its code is not one.
    assert.deepEqual(await assertResponseDocumented(route, problemAnswer({ ...problem, errors: [] })), {
      ...problem,
      errors: [],
    });
    await assert.rejects(
      assertResponseDocumented(route, problemAnswer({ ...problem, code: undefined })),
      /not a Problem/,
    );
  });
});
