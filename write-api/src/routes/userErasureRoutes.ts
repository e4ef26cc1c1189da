import { Hono } from 'hono';
import { z } from 'zod';
import { eraseUserPersonalData } from '@deeplens/commands/identity/erasePersonalData';
import { userAggregate } from '@deeplens/commands/writeModelRules';
import type { Principal } from '@deeplens/platform/auth/principal';
import type { DataKeyStore } from '@deeplens/platform/dataKeys';
import { ConflictError, NotFoundError } from '@deeplens/platform/errors';
import { requireRole } from '@deeplens/platform/http/authenticate';
import { defineRoute, paramsOf, uuidPathParameter } from '@deeplens/platform/http/openApiRegistry';
import { installationDataKeyStore } from '@deeplens/platform/kafkaDataKeyStore';
import { commandOrigin } from '../commandOrigin.ts';
import { commandProblems } from './commandContract.ts';
import type { WriteApiDependencies } from '../writeApiDependencies.ts';
import type { WriteApiEnv } from '../writeApiEnv.ts';

export const userErasureContract = {
  eraseUser: defineRoute({
    method: 'delete',
    path: '/v1/users/{id}',
    summary:
      'Disable and erase a user (platform admin: any; tenant admin: own tenant): their data key is destroyed, so their e-mail and password hash in the log read as erased',
    request: { params: z.object({ id: uuidPathParameter }) },
    responses: { 204: { description: 'Erased' }, ...commandProblems },
  }),
};

/**
 * `DELETE /v1/users/{id}`: disable-and-erase. The user is disabled (their sessions and tokens
 * end), then their data key is destroyed, so their e-mail and password hash read as erased
 * everywhere in the log, the write model's copy follows, and `UserErased` tells the read
 * models to overwrite theirs. Repeating it is harmless.
 */
export function userErasureRoutes(
  deps: Pick<WriteApiDependencies, 'pool' | 'handler'>,
  dataKeys: DataKeyStore = installationDataKeyStore(),
) {
  const app = new Hono<WriteApiEnv>();
  app.delete('/v1/users/:id', requireRole('platform_admin', 'tenant_admin'), async (c) => {
    const { id: userId } = paramsOf(c, userErasureContract.eraseUser.request.params);
    const principal: Principal = c.get('principal');
    const user = await deps.handler.load(userAggregate, userId);
    // Another tenant's user is not a tenant admin's to learn about: the same 404 as no user.
    if (
      user.status === 'initial' ||
      (principal.role !== 'platform_admin' && user.tenantId !== principal.tenantId)
    ) {
      throw new NotFoundError(`no user ${userId}`);
    }
    if (principal.userId === userId) throw new ConflictError('a user cannot erase themselves');
    if (user.status === 'active') {
      await deps.handler.handle(
        userAggregate,
        { type: 'DisableUser', data: { userId, reason: 'erased' } },
        commandOrigin(c),
      );
    }
    await eraseUserPersonalData(deps.pool, dataKeys, deps.handler, userId, commandOrigin(c));
    return c.body(null, 204);
  });
  return app;
}
