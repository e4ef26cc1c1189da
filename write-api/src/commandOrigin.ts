import type { Context } from 'hono';
import type { CommandOrigin } from '@deeplens/commands/commandHandler';
import type { WriteApiEnv } from './writeApiEnv.ts';

/**
 * Who a command comes from: the authenticated principal; the request id correlates it. With an
 * Idempotency-Key, each command of the request gets a key of its own (`#index`), so a retry of a
 * request that died half-way re-runs into the same events instead of new ones. `fingerprint`
 * names the client's request for a command that also carries server-read state (an upload
 * carries the tenant's usage, which differs between the first attempt and its retry).
 */
export function commandOrigin(c: Context<WriteApiEnv>, index = 0, fingerprint?: string): CommandOrigin {
  const principal = c.get('principal');
  const key = c.get('idempotencyKey');
  return {
    actor: principal.actor,
    correlationId: c.get('requestId'),
    causationId: c.get('requestId'),
    ...(key
      ? {
          idempotency: {
            scope: `http:${principal.actor}`,
            key: `${c.req.method} ${c.req.path} ${key}#${index}`,
            // What the client sent, when the command also holds what the server read (usage).
            ...(fingerprint ? { fingerprint } : {}),
          },
        }
      : {}),
  };
}
