/**
 * The write API's OpenAPI 3.1 document, served at `/openapi.json`: generated from the route
 * contracts (`routes/*Routes.ts`), whose zod schemas are the ones the routes validate with.
 */
import { z } from 'zod';
import {
  defineRoute,
  generateOpenApiDocument,
  OpenAPIRegistry,
  registerProblemComponents,
  registerRoutes,
  type RouteConfig,
} from '@deeplens/platform/http/openApiRegistry';
import { problemResponse } from '@deeplens/platform/http/openApiProblems';
import { idempotencyKeyHeader } from './httpIdempotency.ts';
import { identityContract } from './routes/identityRoutes.ts';
import { imageContract } from './routes/imageRoutes.ts';
import { intakeContract } from './routes/intakeRoutes.ts';
import { storageMoveContract } from './routes/storageMoveRoutes.ts';
import { tenantContract } from './routes/tenantRoutes.ts';
import { userErasureContract } from './routes/userErasureRoutes.ts';

const statusAnswer = <T extends string>(status: T) => z.object({ status: z.literal(status) }).strict();

/** What every process answers besides its API: probes, metrics and this document. */
export const operationsContract = {
  health: defineRoute({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process answers',
    security: [],
    responses: {
      200: { description: 'Alive', content: { 'application/json': { schema: statusAnswer('ok') } } },
    },
  }),
  ready: defineRoute({
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: the database answers',
    security: [],
    responses: {
      200: { description: 'Ready', content: { 'application/json': { schema: statusAnswer('ready') } } },
      503: { $ref: '#/components/responses/ServiceUnavailable' },
    },
  }),
  metrics: defineRoute({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics, with `Authorization: Bearer <METRICS_TOKEN>` (404 without it)',
    security: [],
    responses: {
      200: { description: 'Metrics', content: { 'text/plain': { schema: z.string() } } },
      404: problemResponse,
    },
  }),
  openApi: defineRoute({
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    security: [],
    responses: {
      200: {
        description: 'OpenAPI 3.1',
        content: { 'application/json': { schema: z.object({ openapi: z.string() }).passthrough() } },
      },
    },
  }),
};

/** Every contract of the write API, by route file: what `openApi.ts` documents. */
export const writeApiContracts: Record<string, Record<string, RouteConfig>> = {
  operations: operationsContract,
  identity: identityContract,
  userErasure: userErasureContract,
  tenants: tenantContract,
  storageMoves: storageMoveContract,
  intake: intakeContract,
  images: imageContract,
};

function writeApiDocument() {
  const registry = new OpenAPIRegistry();
  registerProblemComponents(registry);
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  registry.registerComponent('securitySchemes', 'apiKey', {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
  });
  registry.registerParameter('IdempotencyKey', idempotencyKeyHeader);
  for (const contract of Object.values(writeApiContracts)) registerRoutes(registry, contract);
  return generateOpenApiDocument(registry, {
    info: {
      title: 'DeepLens write API',
      version: '1.0.0',
      description:
        'Commands of DeepLens, a multi-tenant image similarity search engine. Every command accepts an Idempotency-Key; errors are RFC 9457 problem+json.',
    },
    security: [{ bearer: [] }, { apiKey: [] }],
  });
}

export const writeApiOpenApi = writeApiDocument();
