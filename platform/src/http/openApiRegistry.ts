/**
 * One contract per route: the zod schemas a route validates its request with, and describes its
 * answers with, are the ones its OpenAPI 3.1 document is generated from
 * (`@asteasolutions/zod-to-openapi`). A route file declares its operations with `defineRoute`,
 * validates with `queryOf` / `paramsOf` / `jsonBody(c, route.request.body…)`, and the API's
 * `openApi.ts` registers them with `registerRoutes` and generates the document.
 */
import {
  extendZodWithOpenApi,
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { issuesOf, issueWording } from './issueWording.ts';
import { commonProblemResponses, problemComponents } from './openApiProblems.ts';

// `.openapi(…)` on every zod schema of the process (zod is one module, shared by all packages).
extendZodWithOpenApi(z);

export { OpenAPIRegistry, type RouteConfig };

/** The RFC 9457 problem details every error answer carries (`components.schemas.Problem`). */
export const problemSchema = z
  .object({
    type: z.string().openapi({ description: '`urn:deeplens:problem:<code>`' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    code: z.string().openapi({ description: 'Our reason code, stable across releases' }),
    retriable: z.boolean().optional().openapi({ description: 'Whether the same request may succeed later' }),
    requestId: z.string().optional().openapi({ description: 'The `X-Request-Id` of the request' }),
    retryAfterSeconds: z
      .number()
      .int()
      .optional()
      .openapi({ description: 'With 429 and 503: also sent as `Retry-After`' }),
  })
  .openapi('Problem');

/**
 * Registers the error answers both APIs share — `components.headers` (Retry-After, RateLimit-*),
 * `components.responses` (Problem, ContentTooLarge, …) and `components.schemas.Problem` — which
 * `problemResponses` and `storageProblemResponses` refer to.
 */
export function registerProblemComponents(registry: OpenAPIRegistry): void {
  for (const [name, header] of Object.entries(problemComponents.headers))
    registry.registerComponent('headers', name, structuredClone(header));
  for (const [name, response] of Object.entries(problemComponents.responses))
    registry.registerComponent('responses', name, structuredClone(response));
  registry.register('Problem', problemSchema);
}

/** The error answers every operation can give, by status (references to `components.responses`). */
export const problemResponses: RouteConfig['responses'] = commonProblemResponses;

/**
 * A route's contract, checked against zod-to-openapi's `RouteConfig` but keeping its literal
 * type, so the handler reads `route.request.query` with its own zod type.
 */
export function defineRoute<const T extends RouteConfig>(route: T): T {
  return route;
}

/** Registers each route of `routes` (the values of a route file's contract record) on `registry`. */
export function registerRoutes(registry: OpenAPIRegistry, routes: Record<string, RouteConfig>): void {
  for (const route of Object.values(routes)) registry.registerPath(route);
}

/** The OpenAPI 3.1 document of everything registered on `registry`. */
export function generateOpenApiDocument(
  registry: OpenAPIRegistry,
  config: Omit<Parameters<OpenApiGeneratorV31['generateDocument']>[0], 'openapi'>,
) {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({ openapi: '3.1.0', ...config });
}

/** `/v1/images/:id` (hono) as OpenAPI writes it: `/v1/images/{id}`. */
export const openApiPathOf = (honoPath: string) => honoPath.replace(/:([A-Za-z_]\w*)/g, '{$1}');

const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** `METHOD /path` of every operation of an OpenAPI document, sorted. */
export function operationsOf(document: { paths?: Record<string, object> }): string[] {
  return Object.entries(document.paths ?? {})
    .flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => methods.includes(key))
        .map((method) => `${method.toUpperCase()} ${path}`),
    )
    .sort();
}

/**
 * `METHOD /path` (in OpenAPI's path syntax) of every route a hono app answers, sorted: its
 * handlers, not its middleware (`app.use`, registered for every method).
 */
export function routesOf(app: { routes: readonly { method: string; path: string }[] }): string[] {
  const routes = app.routes
    .filter((route) => route.method !== 'ALL')
    .map((route) => `${route.method} ${openApiPathOf(route.path)}`);
  return [...new Set(routes)].sort();
}

/**
 * A number sent as text (a query parameter, a multipart field): `"10"` → 10, checked by
 * `schema`. Unlike `z.coerce.number()`, an empty or absent value is not 0, and the document says
 * `number`, not `number | null`.
 */
export const numberFromText = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value), schema);

export { issuesOf, issueWording };

/** The request's query string checked against the route's documented `request.query`; else a 400 naming what is wrong. */
export function queryOf<T extends z.ZodTypeAny>(c: Context, schema: T): z.infer<T> {
  // Every value of a repeated parameter (`tag=a&tag=b`) where the schema takes an array.
  const raw: Record<string, string | string[]> = { ...c.req.query() };
  for (const [name, values] of Object.entries(c.req.queries()))
    if (acceptsArray(schema, name)) raw[name] = values;
  const parsed = schema.safeParse(raw, { error: issueWording });
  if (!parsed.success)
    throw new ValidationError('the query is not valid', { detail: { errors: issuesOf(parsed.error) } });
  return parsed.data;
}

/** Whether the object schema's member `name` is (or may be) an array. */
function acceptsArray(schema: z.ZodTypeAny, name: string): boolean {
  const shape = schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodTypeAny>) : {};
  let member: z.ZodTypeAny | undefined = shape[name];
  while (member instanceof z.ZodOptional || member instanceof z.ZodDefault)
    member = member._def.innerType as z.ZodTypeAny;
  if (member instanceof z.ZodUnion)
    return (member.options as z.ZodTypeAny[]).some((option) => option instanceof z.ZodArray);
  return member instanceof z.ZodArray;
}

/**
 * The request's path parameters checked against the route's documented `request.params`; a
 * bad one is a 400 saying which (`id must be a UUID`), as a UUID is the only kind we take.
 */
export function paramsOf<T extends z.ZodTypeAny>(c: Context, schema: T): z.infer<T> {
  const raw = c.req.param() as Record<string, string>;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const name = String(parsed.error.issues[0]?.path[0] ?? 'a path parameter');
    throw new ValidationError(`${name} must be a UUID`, { detail: { [name]: raw[name] ?? '' } });
  }
  return parsed.data;
}

/**
 * A path parameter holding a UUID, lower-cased as our ids are stored. `z.guid()`: any 8-4-4-4-12
 * hex, as zod 3's `uuid()` took (zod 4's `z.uuid()` also checks the RFC 9562 version and variant).
 */
export const uuidPathParameter = z
  .guid()
  .transform((id) => id.toLowerCase())
  .openapi({ type: 'string', format: 'uuid' });

/**
 * `schema` with every object in it strict, for tests of answers: parsing an answer with it fails
 * on any member its document does not declare, however deep (zod drops unknown members by
 * default, and the document allows them), except in an object declared open (`.passthrough()`).
 */
export function everyObjectStrict(schema: z.ZodTypeAny): z.ZodTypeAny {
  // An object declared open (`.passthrough()`, e.g. the OpenAPI document itself) stays open.
  if (schema instanceof z.ZodObject && schema._zod.def.catchall instanceof z.ZodUnknown) return schema;
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, z.ZodTypeAny>;
    return z.strictObject(
      Object.fromEntries(Object.entries(shape).map(([key, member]) => [key, everyObjectStrict(member)])),
    );
  }
  if (schema instanceof z.ZodArray) return z.array(everyObjectStrict(schema.element as z.ZodTypeAny));
  if (schema instanceof z.ZodNullable) return everyObjectStrict(schema.unwrap() as z.ZodTypeAny).nullable();
  if (schema instanceof z.ZodOptional) return everyObjectStrict(schema.unwrap() as z.ZodTypeAny).optional();
  if (schema instanceof z.ZodRecord)
    return z.record(schema.keyType as z.ZodString, everyObjectStrict(schema.valueType as z.ZodTypeAny));
  if (schema instanceof z.ZodUnion)
    return z.union(
      (schema.options as z.ZodTypeAny[]).map(everyObjectStrict) as [
        z.ZodTypeAny,
        z.ZodTypeAny,
        ...z.ZodTypeAny[],
      ],
    );
  if (schema instanceof z.ZodLazy) return everyObjectStrict(schema.unwrap() as z.ZodTypeAny);
  // A transform (`schema.transform(…)`: its input is checked) or a preprocess (`z.preprocess(…,
  // schema)`: its output is).
  if (schema instanceof z.ZodPipe)
    return everyObjectStrict((schema.in instanceof z.ZodTransform ? schema.out : schema.in) as z.ZodTypeAny);
  return schema;
}

/**
 * Throws (naming the path) unless `answer` is what the route's contract says it answers with
 * `status` as JSON, with no member the document does not declare.
 */
export function assertAnswerDocumented(route: RouteConfig, status: number, answer: unknown): void {
  const response = route.responses[status];
  const media = response && 'content' in response ? response.content?.['application/json'] : undefined;
  const schema = media && 'schema' in media ? media.schema : undefined;
  if (!(schema instanceof z.ZodType))
    throw new Error(`${nameOf(route)} documents no JSON answer for ${status}`);
  assertParses(route, status, schema, answer);
}

/**
 * Throws (naming the path) unless the route's document declares this whole answer: its status,
 * its declared headers, and a body of a declared media type its schema accepts with no
 * undeclared member (as `assertAnswerDocumented`); a shared problem answer
 * (`components.responses`) must be problem+json `problemSchema` accepts (extension members
 * allowed), or empty. Returns the
 * body, parsed when JSON.
 */
export async function assertResponseDocumented(route: RouteConfig, response: Response): Promise<unknown> {
  const { status } = response;
  const declared = route.responses[status];
  const text = await response.text();
  if (!declared)
    throw new Error(`${nameOf(route)} answered ${status}, which its document does not declare: ${text}`);
  if ('$ref' in declared) {
    // One of the shared problem answers, or a body-less one (a 408 from the server).
    if (text === '') return undefined;
    if (!/^application\/problem\+json/.test(response.headers.get('content-type') ?? ''))
      throw new Error(`${nameOf(route)} ${status} is not problem+json: ${text}`);
    // Extension members (`errors`, a refusal's particulars) are RFC 9457's to allow.
    const problem: unknown = JSON.parse(text);
    if (!problemSchema.safeParse(problem).success)
      throw new Error(`${nameOf(route)} ${status}: not a Problem: ${text}`);
    return problem;
  }
  if (declared.headers instanceof z.ZodObject) {
    const headers: z.ZodObject = declared.headers;
    const sent = Object.fromEntries(
      Object.keys(headers.shape as object).map((name) => [name, response.headers.get(name) ?? undefined]),
    );
    if (!headers.safeParse(sent).success)
      throw new Error(`${nameOf(route)} ${status} lacks a declared header: ${JSON.stringify(sent)}`);
  }
  const content = (declared.content ?? {}) as Record<string, { schema?: unknown }>;
  if (Object.keys(content).length === 0) {
    if (text !== '') throw new Error(`${nameOf(route)} ${status} answers a body it does not declare`);
    return undefined;
  }
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const schema = content[type]?.schema;
  if (!(schema instanceof z.ZodType))
    throw new Error(`${nameOf(route)} ${status} answers ${type}, undeclared`);
  const value: unknown = type.endsWith('json') ? JSON.parse(text) : text;
  assertParses(route, status, schema, value);
  return value;
}

const nameOf = (route: RouteConfig) => `${route.method.toUpperCase()} ${route.path}`;

function assertParses(route: RouteConfig, status: number, schema: z.ZodTypeAny, answer: unknown): void {
  const parsed = everyObjectStrict(schema).safeParse(answer);
  if (!parsed.success)
    throw new Error(
      `${nameOf(route)} ${status} answered what its document does not say: ${JSON.stringify(issuesOf(parsed.error))}`,
    );
}
