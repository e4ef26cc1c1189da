import type { Context } from 'hono';
import type { CommandOrigin } from '@deeplens/commands/commandHandler';
import type { WriteApiEnv } from './writeApiEnv.ts';

/**
 * Who a command comes from: the authenticated principal; the request id correlates it. With an
 * Idempotency-Key, each command of the request gets a key of its own (`#index`), so a retry of a
 * request whose answer was never stored (a crash after the commit) re-runs into the same events
 * instead of new ones. Its fingerprint is the request's own (`requestFingerprint`: method, path,
 * body), the one `httpIdempotency` compares: what the client sent, never what the server read.
 */
export function commandOrigin(c: Context<WriteApiEnv>, index = 0): CommandOrigin {
  const principal = c.get('principal');
  const key = c.get('idempotencyKey');
  const fingerprint = c.get('idempotencyFingerprint');
  return {
    actor: principal.actor,
    correlationId: c.get('requestId'),
    causationId: c.get('requestId'),
    ...(key
      ? {
          idempotency: {
            scope: `http:${principal.actor}`,
            key: `${c.req.method} ${c.req.path} ${key}#${index}`,
            ...(fingerprint ? { fingerprint } : {}),
          },
        }
      : {}),
  };
}

/**
 * `commandOrigin` for the command that completes the request, when the request's answer is
 * known before it runs (a secret the route draws): with an Idempotency-Key the answer is stored
 * in the command's own transaction, so a crash after the commit cannot lose it — a re-run would
 * draw another secret. The route then answers exactly `status`, `body` and `headers`.
 */
export async function commandOriginAnswering(
  c: Context<WriteApiEnv>,
  answer: { status: number; body: unknown; headers?: Record<string, string> },
  index = 0,
): Promise<CommandOrigin> {
  const origin = commandOrigin(c, index);
  const key = c.get('idempotencyKey');
  const keep = c.get('keepAnswer');
  if (!origin.idempotency || !key || !keep) return origin;
  const response = Response.json(answer.body, { status: answer.status, headers: answer.headers ?? {} });
  return {
    ...origin,
    idempotency: { ...origin.idempotency, requestAnswer: { key, answer: await keep(response) } },
  };
}
