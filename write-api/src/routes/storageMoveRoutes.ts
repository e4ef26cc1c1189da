import { Hono } from 'hono';
import { z } from 'zod';
import type { StorageMove } from '@deeplens/commands/tenant/storageMove';
import { tenantDecider } from '@deeplens/commands/tenant/tenantDecider';
import type { ProvisionedTenant } from '@deeplens/commands/tenant/tenantState';
import { tenantAggregate } from '@deeplens/commands/writeModelRules';
import { activeImageObjectCount } from '@deeplens/commands/writeModelQueries';
import { NotFoundError } from '@deeplens/platform/errors';
import { requireRole, tenantScope } from '@deeplens/platform/http/authenticate';
import { storageProblemResponses } from '@deeplens/platform/http/openApiProblems';
import { defineRoute, paramsOf, uuidPathParameter } from '@deeplens/platform/http/openApiRegistry';
import { jsonBody } from '@deeplens/platform/http/requestBody';
import { deterministicUuid, randomUUID } from '@deeplens/platform/ids';
import { commandOrigin } from '../commandOrigin.ts';
import type { StorageMoveCopier } from '../storageMoveCopier.ts';
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
import { storageBody, storageSettings } from './tenantStorageBody.ts';

/** The target: DeepLens's own storage, or any storage `PUT …/storage` takes (same body). */
const moveBody = z.union([
  z
    .object({ kind: z.literal('platform') })
    .strict()
    .openapi({ description: "Back to DeepLens's own storage" }),
  storageBody,
]);

const storageMoveAnswer = z
  .object({
    moveId: z.guid(),
    status: z.enum(['copying', 'verified', 'completed', 'failed']),
    from: z.string().openapi({ description: 'The source, without credentials' }),
    to: z.string().openapi({ description: 'The target, without credentials' }),
    objects: z
      .number()
      .int()
      .openapi({ description: 'Objects copied and verified so far (all of them once verified)' }),
    bytes: z.number().int(),
    totalObjects: z
      .number()
      .int()
      .openapi({ description: "Objects of the tenant's images and thumbnails now" }),
    startedAt: z.string().datetime(),
    finishedAt: z.string().datetime().nullable(),
    reason: z.string().optional().openapi({ description: 'Why the move failed' }),
  })
  .strict()
  .openapi('StorageMove');

const tenantParams = z.object({ id: uuidPathParameter });

/** Storage moves (platform admins, or the tenant's own admins): what each route takes and answers. */
export const storageMoveContract = {
  start: defineRoute({
    method: 'post',
    path: '/v1/tenants/{id}/storage/move',
    summary:
      "Move the tenant's objects to another storage without downtime: uploads go there at once, the rest is copied and verified by sha256 in the background (docs/storage-moves.md)",
    parameters: [idempotencyKeyParameter],
    request: { params: tenantParams, body: jsonRequest(moveBody) },
    responses: {
      202: { description: 'The move started', headers: locationHeader, ...jsonContent(storageMoveAnswer) },
      ...commandProblems,
      ...storageProblemResponses,
    },
  }),
  get: defineRoute({
    method: 'get',
    path: '/v1/tenants/{id}/storage/move',
    summary: "The tenant's last storage move and its progress",
    request: { params: tenantParams },
    responses: { 200: { description: 'The move', ...jsonContent(storageMoveAnswer) }, ...commandProblems },
  }),
};

/** The move as the API shows it: descriptions and figures, never a credential. */
function moveView(move: StorageMove, total: number): z.input<typeof storageMoveAnswer> {
  return {
    moveId: move.moveId,
    status: move.status,
    from: move.fromDescription,
    to: move.toDescription,
    objects: move.objects,
    bytes: move.bytes,
    // Objects of the tenant's active images and thumbnails now (uploads during a move add to it).
    totalObjects: Math.max(total, move.objects),
    startedAt: new Date(move.startedAt).toISOString(),
    finishedAt: move.finishedAt === null ? null : new Date(move.finishedAt).toISOString(),
    ...(move.reason ? { reason: move.reason } : {}),
  };
}

/**
 * `POST /v1/tenants/{id}/storage/move` starts moving the tenant's objects to another storage
 * (202; the copier runs in the background), `GET` shows the last move and its progress. Platform
 * admins, or the tenant's own admins (another tenant's id answers 404).
 */
export function storageMoveRoutes(deps: WriteApiDependencies, copier: StorageMoveCopier) {
  const { handler, pool, secrets } = deps;
  const app = new Hono<WriteApiEnv>();
  app.use('/:id/storage/move', requireRole('platform_admin', 'tenant_admin'));

  async function tenantOf(tenantId: string): Promise<ProvisionedTenant> {
    const state = await handler.load(tenantDecider, tenantId);
    if (state.status === 'initial' || state.status === 'deleted')
      throw new NotFoundError(`no tenant ${tenantId}`);
    return state;
  }

  async function view(tenantId: string) {
    const move = (await tenantOf(tenantId)).storageMove;
    if (!move) throw new NotFoundError(`tenant ${tenantId} has never moved its storage`);
    const total = await activeImageObjectCount(pool, tenantId);
    return moveView(move, total);
  }

  app.post('/:id/storage/move', async (c) => {
    const tenantId = tenantScope(c, paramsOf(c, storageMoveContract.start.request.params).id);
    const body = await jsonBody(c, bodyOf(storageMoveContract.start));
    await tenantOf(tenantId);
    // Checked and sealed as for PUT …/storage: the allow-list, the path root, the credential.
    const target =
      body.kind === 'platform' ? null : await storageSettings(body, tenantId, deps.config, secrets);
    const key = c.get('idempotencyKey');
    const moveId = key ? deterministicUuid('storage-move', c.get('principal').actor, key) : randomUUID();
    await handler.handle(
      tenantAggregate,
      { type: 'StartStorageMove', data: { tenantId, moveId, target } },
      commandOrigin(c),
    );
    copier.start(tenantId);
    c.header('location', `/v1/tenants/${tenantId}/storage/move`);
    return c.json(await view(tenantId), 202);
  });

  app.get('/:id/storage/move', async (c) => {
    const tenantId = tenantScope(c, paramsOf(c, storageMoveContract.get.request.params).id);
    return c.json(await view(tenantId));
  });

  return app;
}
