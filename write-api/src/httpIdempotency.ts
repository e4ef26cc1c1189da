import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { z } from 'zod';
import '@deeplens/platform/http/openApiRegistry';
import { sql, type DatabasePool } from '@deeplens/platform/database';
import { ConflictError, UnprocessableError, ValidationError } from '@deeplens/platform/errors';
import type { SecretBox } from '@deeplens/platform/secrets';
import type { WriteApiEnv } from './writeApiEnv.ts';

const row = z.object({
  fingerprint: z.string(),
  status: z.number().nullable(),
  headers: z.record(z.string()).nullable(),
  sealed_body: z.string().nullable(),
  stale: z.boolean(),
});

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
 * `Idempotency-Key` for every command endpoint: the first answer to a key is stored (per
 * caller) and replayed to any retry with the same request; the same key with a different
 * request is refused (422); a retry while the first is still running gets 409. The key and
 * the request's fingerprint go on to the request's commands (`commandOrigin`), so a retry that
 * re-runs after a crash between their commit and the stored answer lands on the same events.
 */
export function httpIdempotency(pool: DatabasePool, box: SecretBox): MiddlewareHandler<WriteApiEnv> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (key === undefined || c.req.method === 'GET') return next();
    if (!idempotencyKeyHeader.safeParse(key).success)
      throw new ValidationError('Idempotency-Key must be 1 to 255 printable ASCII characters');
    const principal = c.get('principal');
    const scope = `${principal.actor}`;
    const fingerprint = requestFingerprint(
      c.req.method,
      c.req.path,
      c.req.header('content-type') ?? '',
      Buffer.from(await c.req.raw.clone().arrayBuffer()),
    );

    const claimed = await pool.query(sql.typeAlias('void')`
      insert into auth.http_idempotency (scope, key, fingerprint) values (${scope}, ${key}, ${fingerprint})
      on conflict (scope, key) do update set claimed_at = now(), fingerprint = excluded.fingerprint
        where auth.http_idempotency.status is null and auth.http_idempotency.claimed_at < now() - interval '1 minute'
          and auth.http_idempotency.fingerprint = excluded.fingerprint`);
    if (claimed.rowCount === 0) {
      const earlier = await pool.one(sql.type(row)`
        select fingerprint, status, headers, sealed_body, claimed_at < now() - interval '1 minute' as stale
        from auth.http_idempotency where scope = ${scope} and key = ${key}`);
      if (earlier.fingerprint !== fingerprint) {
        throw new UnprocessableError('this Idempotency-Key was already used for a different request', {
          detail: { idempotencyKey: key },
        });
      }
      if (earlier.status === null || earlier.sealed_body === null) {
        throw new ConflictError(
          'a request with this Idempotency-Key is still being processed; retry shortly',
        );
      }
      return new Response(box.open(earlier.sealed_body), {
        status: earlier.status,
        headers: { ...(earlier.headers ?? {}), 'idempotent-replayed': 'true' },
      });
    }
    c.set('idempotencyKey', key);
    c.set('idempotencyFingerprint', fingerprint);
    try {
      await next();
    } catch (error) {
      await pool.query(
        sql.typeAlias(
          'void',
        )`delete from auth.http_idempotency where scope = ${scope} and key = ${key} and status is null`,
      );
      throw error;
    }
    // Only answers that say what happened are kept; a refusal may be retried to a different end.
    if (c.res.status >= 200 && c.res.status < 300) {
      const text = await c.res.clone().text();
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'location']) {
        const value = c.res.headers.get(name);
        if (value) headers[name] = value;
      }
      await pool.query(sql.typeAlias('void')`
        update auth.http_idempotency set status = ${c.res.status}, headers = ${sql.jsonb(headers)}, sealed_body = ${box.seal(text)}
        where scope = ${scope} and key = ${key}`);
    } else {
      await pool.query(
        sql.typeAlias(
          'void',
        )`delete from auth.http_idempotency where scope = ${scope} and key = ${key} and status is null`,
      );
    }
  };
}
