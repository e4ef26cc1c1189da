import { Hono } from 'hono';
import { z } from 'zod';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { ProvisionedTenant, TenantState } from '@deeplens/commands/tenant/tenantState';
import { tenantAggregate } from '@deeplens/commands/writeModelRules';
import type { Config } from '@deeplens/platform/config';
import { requireRole } from '@deeplens/platform/http/authenticate';
import { NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { deterministicUuid, randomUUID } from '@deeplens/platform/ids';
import { commandOrigin } from '../commandOrigin.ts';
import { jsonBody } from '@deeplens/platform/http/requestBody';
import { defineRoute, paramsOf, uuidPathParameter } from '@deeplens/platform/http/openApiRegistry';
import { storageProblemResponses } from '@deeplens/platform/http/openApiProblems';
import type { WriteApiDependencies } from '../writeApiDependencies.ts';
import type { WriteApiEnv } from '../writeApiEnv.ts';
import {
  bodyOf,
  commandProblems,
  idempotencyKeyParameter,
  jsonContent,
  jsonRequest,
  locationHeader,
} from './commandContract.ts';
import { storageBody, storageSettings, storageView, storageViewAnswer } from './tenantStorageBody.ts';

const plan = z.enum(['free', 'pro', 'enterprise']);
const limits = z
  .object({
    maxImages: z.number().int().positive(),
    maxBytes: z.number().int().positive(),
    maxImageBytes: z.number().int().positive(),
    requestsPerMinute: z.number().int().positive(),
  })
  .strict()
  .openapi('Limits', { description: "The plan's limits, when they differ from its defaults" });

/** Enterprise: the tenant's metadata in a dedicated database, on a server named by configuration. */
const isolation = {
  isolation: z.enum(['shared', 'dedicated']).optional(),
  databaseTarget: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,62}$/)
    .optional()
    .openapi({
      description:
        "With isolation `dedicated`: the configured database server (a key of TENANT_DATABASE_URLS; `default`: DATABASE_URL's)",
    }),
};

const provisionBody = z
  .object({
    slug: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'lower-case letters, digits and dashes, 2 to 63 characters'),
    name: z.string().trim().min(1).max(200),
    plan: plan.default('free'),
    limits: limits.optional(),
    ...isolation,
  })
  .strict()
  .refine((b) => b.isolation === 'dedicated' || b.databaseTarget === undefined, {
    message: 'a database server goes with isolation "dedicated"',
    path: ['databaseTarget'],
  });

const patchBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    plan: plan.optional(),
    limits: limits.optional(),
    status: z.enum(['active', 'suspended']).optional(),
    reason: z.string().trim().min(1).max(500).optional(),
    ...isolation,
  })
  .strict()
  .refine((b) => b.isolation !== 'dedicated' || b.plan !== undefined, {
    message: 'a dedicated database goes with a plan',
    path: ['plan'],
  })
  .refine((b) => b.isolation === 'dedicated' || b.databaseTarget === undefined, {
    message: 'a database server goes with isolation "dedicated"',
    path: ['databaseTarget'],
  })
  .refine((b) => b.isolation !== 'shared', {
    message: 'moving a tenant back to the shared database is not supported',
    path: ['isolation'],
  })
  .refine((b) => b.status !== 'suspended' || b.reason !== undefined, {
    message: 'suspending needs a reason',
    path: ['reason'],
  })
  .refine((b) => b.plan !== undefined || b.limits === undefined, {
    message: 'limits go with a plan',
    path: ['limits'],
  });

const tenantAnswer = z
  .object({
    id: z.guid(),
    slug: z.string(),
    name: z.string(),
    plan,
    limits,
    status: z.enum(['active', 'suspended']),
    suspendedReason: z.string().optional(),
    isolation: z.enum(['shared', 'dedicated']),
    databaseTarget: z.string().optional(),
    // Not `.nullable()`: zod-to-openapi (7 and 9) drops the null of a nullable reference; and the
    // union member is lazy, or zod-to-openapi 9 inlines the members of the TenantStorage union.
    storage: z
      .union([z.lazy(() => storageViewAnswer), z.null()])
      .openapi({ description: 'Its own storage; null: the platform’s' }),
    version: z.number().int(),
  })
  .strict()
  .openapi('Tenant');

const tenantErasureAnswer = z
  .object({ id: z.guid(), status: z.literal('deleted'), erasure: z.string() })
  .strict();

const tenantParams = z.object({ id: uuidPathParameter });

/** Tenants (platform admins): what each route takes and answers. */
export const tenantContract = {
  provision: defineRoute({
    method: 'post',
    path: '/v1/tenants',
    summary: 'Provision a tenant (platform admin)',
    parameters: [idempotencyKeyParameter],
    request: { body: jsonRequest(provisionBody) },
    responses: {
      201: { description: 'Provisioned', headers: locationHeader, ...jsonContent(tenantAnswer) },
      ...commandProblems,
    },
  }),
  get: defineRoute({
    method: 'get',
    path: '/v1/tenants/{id}',
    summary: 'A tenant',
    request: { params: tenantParams },
    responses: { 200: { description: 'Tenant', ...jsonContent(tenantAnswer) }, ...commandProblems },
  }),
  change: defineRoute({
    method: 'patch',
    path: '/v1/tenants/{id}',
    summary: 'Change plan, suspend or reactivate',
    parameters: [idempotencyKeyParameter],
    request: { params: tenantParams, body: jsonRequest(patchBody) },
    responses: { 200: { description: 'Tenant', ...jsonContent(tenantAnswer) }, ...commandProblems },
  }),
  configureStorage: defineRoute({
    method: 'put',
    path: '/v1/tenants/{id}/storage',
    summary:
      'Bring your own storage: S3, Azure Blob or a folder (the secret is encrypted at rest and never returned)',
    parameters: [idempotencyKeyParameter],
    request: { params: tenantParams, body: jsonRequest(storageBody) },
    responses: {
      200: { description: 'Storage, without its secret', ...jsonContent(storageViewAnswer) },
      ...commandProblems,
      ...storageProblemResponses,
    },
  }),
  erase: defineRoute({
    method: 'delete',
    path: '/v1/tenants/{id}',
    summary: 'Erase a tenant: its images, vectors, objects and keys',
    parameters: [idempotencyKeyParameter],
    request: { params: tenantParams },
    responses: {
      202: { description: 'Erasure accepted', ...jsonContent(tenantErasureAnswer) },
      ...commandProblems,
    },
  }),
};

/** The tenant as the API shows it: never the storage secret. */
export function tenantView(state: LiveTenant): z.input<typeof tenantAnswer> {
  const {
    tenantId,
    slug,
    name,
    plan: currentPlan,
    limits: currentLimits,
    status,
    storage,
    suspendedReason,
    databaseTarget,
    version,
  } = state;
  return {
    id: tenantId,
    slug,
    name,
    plan: currentPlan,
    limits: currentLimits,
    status,
    ...(suspendedReason ? { suspendedReason } : {}),
    isolation: databaseTarget ? ('dedicated' as const) : ('shared' as const),
    ...(databaseTarget ? { databaseTarget } : {}),
    storage: storage ? storageView(storage) : null,
    version,
  };
}

/** The configured server a dedicated tenant's database goes to (`default`: DATABASE_URL's). */
function databaseTargetOf(
  config: Pick<Config, 'TENANT_DATABASE_URLS'>,
  body: { isolation?: 'shared' | 'dedicated'; databaseTarget?: string },
): { databaseTarget?: string } {
  if (body.isolation !== 'dedicated') return {};
  const target = body.databaseTarget ?? 'default';
  if (target !== 'default' && !Object.hasOwn(config.TENANT_DATABASE_URLS, target)) {
    throw new ValidationError(`No database server named ${target} is configured`, {
      detail: { databaseTarget: target },
    });
  }
  return { databaseTarget: target };
}

/** A tenant that is there: provisioned and not erased. */
type LiveTenant = ProvisionedTenant & { status: 'active' | 'suspended' };

function existing(state: TenantState, tenantId: string): LiveTenant {
  if (state.status === 'initial' || state.status === 'deleted')
    throw new NotFoundError(`no tenant ${tenantId}`);
  return { ...state, status: state.status };
}

/** Tenants: provisioned, re-planned, suspended, given their own storage and erased by platform admins. */
export function tenantRoutes(deps: WriteApiDependencies) {
  const { handler, secrets } = deps;
  const app = new Hono<WriteApiEnv>();
  app.use('*', requireRole('platform_admin'));

  app.post('/', async (c) => {
    const body = await jsonBody(c, bodyOf(tenantContract.provision));
    const key = c.get('idempotencyKey');
    const tenantId = key ? deterministicUuid('tenant', c.get('principal').actor, key) : randomUUID();
    await handler.handle(
      tenantAggregate,
      {
        type: 'ProvisionTenant',
        data: {
          tenantId,
          slug: body.slug,
          name: body.name,
          plan: body.plan,
          ...(body.limits ? { limits: body.limits } : {}),
          ...databaseTargetOf(deps.config, body),
        },
      },
      commandOrigin(c),
    );
    const state = existing(await handler.load(tenantDecider, tenantId), tenantId);
    c.header('location', `/v1/tenants/${tenantId}`);
    return c.json(tenantView(state), 201);
  });

  app.get('/:id', async (c) => {
    const { id: tenantId } = paramsOf(c, tenantContract.get.request.params);
    return c.json(tenantView(existing(await handler.load(tenantDecider, tenantId), tenantId)));
  });

  app.patch('/:id', async (c) => {
    const { id: tenantId } = paramsOf(c, tenantContract.change.request.params);
    const body = await jsonBody(c, bodyOf(tenantContract.change));
    existing(await handler.load(tenantDecider, tenantId), tenantId);
    if (body.plan) {
      await handler.handle(
        tenantAggregate,
        {
          type: 'ChangeTenantPlan',
          data: {
            tenantId,
            plan: body.plan,
            ...(body.limits ? { limits: body.limits } : {}),
            ...databaseTargetOf(deps.config, body),
          },
        },
        commandOrigin(c, 0),
      );
    }
    if (body.status === 'suspended') {
      await handler.handle(
        tenantAggregate,
        { type: 'SuspendTenant', data: { tenantId, reason: body.reason! } },
        commandOrigin(c, 1),
      );
    } else if (body.status === 'active') {
      await handler.handle(
        tenantAggregate,
        { type: 'ReactivateTenant', data: { tenantId } },
        commandOrigin(c, 1),
      );
    }
    return c.json(tenantView(existing(await handler.load(tenantDecider, tenantId), tenantId)));
  });

  app.put('/:id/storage', async (c) => {
    const { id: tenantId } = paramsOf(c, tenantContract.configureStorage.request.params);
    const body = await jsonBody(c, bodyOf(tenantContract.configureStorage));
    existing(await handler.load(tenantDecider, tenantId), tenantId);
    // Checked against this installation and sealed here: the decider, the events and the log
    // only ever see ciphertext.
    const storage = await storageSettings(body, tenantId, deps.config, secrets);
    await handler.handle(
      tenantAggregate,
      { type: 'ConfigureTenantStorage', data: { tenantId, ...storage } },
      commandOrigin(c),
    );
    return c.json(tenantView(existing(await handler.load(tenantDecider, tenantId), tenantId)).storage);
  });

  app.delete('/:id', async (c) => {
    const { id: tenantId } = paramsOf(c, tenantContract.erase.request.params);
    existing(await handler.load(tenantDecider, tenantId), tenantId);
    await handler.handle(tenantAggregate, { type: 'DeleteTenant', data: { tenantId } }, commandOrigin(c));
    return c.json(
      {
        id: tenantId,
        status: 'deleted',
        erasure: 'images, vectors, objects and keys are being removed',
      } satisfies z.input<typeof tenantErasureAnswer>,
      202,
    );
  });

  return app;
}
