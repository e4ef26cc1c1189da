import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { CommandHandler, RequestAnswer } from '@deeplens/commands/commandHandler';
import '@deeplens/platform/http/openApiRegistry';
import { ConflictError, ValidationError } from '@deeplens/platform/errors';
import type { SecretBox } from '@deeplens/platform/secrets';
import type { WriteApiEnv } from './writeApiEnv.ts';

/** The `Idempotency-Key` header: what this middleware takes, and what the document declares. */
export const idempotencyKeyHeader = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key must be 1 to 255 printable ASCII characters')
  .openapi({
    param: {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description: 'A retry with the same key gets the first answer.',
    },
  });

/**
 * What makes two requests "the same": method, path and body. A multipart body is compared
 * without its boundary, which a client picks afresh for every attempt.
 */
export function requestFingerprint(method: string, path: string, contentType: string, body: Buffer): string {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const marker = boundary?.[1] ?? boundary?.[2];
  const hash = createHash('sha256').update(`${method} ${path}\n${contentType.split(';')[0]?.trim() ?? ''}\n`);
  if (!marker) return hash.update(body).digest('hex');
  // Split on the boundary and hash the parts in order, so the boundary itself never counts.
  const separator = Buffer.from(marker, 'latin1');
  let start = 0;
  for (let at = body.indexOf(separator); at !== -1; at = body.indexOf(separator, start)) {
    hash.update(body.subarray(start, at)).update('\u0000');
    start = at + separator.length;
  }
  return hash.update(body.subarray(start)).digest('hex');
}

/**
 * `Idempotency-Key` for every command endpoint, on the write model's one idempotency store
 * (`CommandHandler.claimRequest`): the first answer to a key is stored (per caller, its body
 * sealed) and replayed to any retry with the same request; the same key with a different
 * request is refused (422); a retry while the first is still running gets 409. The key and the
 * request's fingerprint go on to the request's commands (`commandOrigin`), whose keys sit in the
 * same store, so a retry that re-runs after a crash between their commit and the stored answer
 * lands on the same events.
 */
export function httpIdempotency(handler: CommandHandler, box: SecretBox): MiddlewareHandler<WriteApiEnv> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (key === undefined || c.req.method === 'GET') return next();
    if (!idempotencyKeyHeader.safeParse(key).success)
      throw new ValidationError('Idempotency-Key must be 1 to 255 printable ASCII characters');
    const fingerprint = requestFingerprint(
      c.req.method,
      c.req.path,
      c.req.header('content-type') ?? '',
      Buffer.from(await c.req.raw.clone().arrayBuffer()),
    );
    // The scope of the request's commands' keys (`commandOrigin`); the bare key has no space,
    // unlike theirs, so the request's own row is never one of theirs.
    const request = { scope: `http:${c.get('principal').actor}`, key, fingerprint };

    const claim = await handler.claimRequest(request);
    if (claim.kind === 'running')
      throw new ConflictError('a request with this Idempotency-Key is still being processed; retry shortly');
    if (claim.kind === 'answered') {
      const { status, headers, sealedBody } = claim.answer;
      return new Response(box.open(sealedBody), {
        status,
        headers: { ...headers, 'idempotent-replayed': 'true' },
      });
    }
    c.set('idempotencyKey', key);
    c.set('idempotencyFingerprint', fingerprint);
    c.set('keepAnswer', (response) => answerToKeep(response, box));
    try {
      await next();
    } catch (error) {
      await handler.releaseRequest(request);
      throw error;
    }
    // Only answers that say what happened are kept; a refusal may be retried to a different end.
    // Unless the request's command stored it already (`commandOriginAnswering`): then a no-op.
    if (c.res.status >= 200 && c.res.status < 300) {
      await handler.answerRequest(request, await answerToKeep(c.res, box));
    } else {
      await handler.releaseRequest(request);
    }
  };
}

/** What is kept of an answer for a retry: its status, the headers worth repeating, its body sealed. */
async function answerToKeep(response: Response, box: SecretBox): Promise<RequestAnswer> {
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'location']) {
    const value = response.headers.get(name);
    if (value) headers[name] = value;
  }
  return { status: response.status, headers, sealedBody: box.seal(await response.clone().text()) };
}
