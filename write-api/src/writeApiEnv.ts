import type { RequestAnswer } from '@deeplens/commands/commandHandler';
import type { TenantState } from '@deeplens/commands/tenant/tenantState';
import type { Principal } from '@deeplens/platform/auth/principal';

/**
 * Hono's typed context of the write API: who is calling, the caller's tenant as loaded once for
 * this request, and the request's idempotency key with the fingerprint of what it was sent with.
 */
export type WriteApiEnv = {
  Variables: {
    principal: Principal;
    callerTenant: TenantState | undefined;
    idempotencyKey: string | undefined;
    /** `requestFingerprint` of this request, set with `idempotencyKey` (`httpIdempotency`). */
    idempotencyFingerprint: string | undefined;
    /** How `httpIdempotency` keeps an answer for a retry, set with `idempotencyKey`. */
    keepAnswer: ((answer: Response) => Promise<RequestAnswer>) | undefined;
    requestId: string;
  };
};
