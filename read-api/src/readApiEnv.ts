import type { Principal } from '@deeplens/platform/auth/principal';

/** Hono's typed context of the read API. */
export type ReadApiEnv = { Variables: { principal: Principal; requestId: string } };
