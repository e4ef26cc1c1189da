import type { Principal } from '@deeplens/platform/auth/principal';

/** Hono's typed context of the write API: who is calling, and the request's idempotency key. */
export type WriteApiEnv = {
  Variables: {
    principal: Principal;
    idempotencyKey: string | undefined;
    requestId: string;
  };
};
