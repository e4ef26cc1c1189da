import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../errors.ts';
import { issuesOf, issueWording } from './issueWording.ts';

/** The body limit of routes anyone may call without credentials (sign-in, refresh, logout). */
export const unauthenticatedBodyBytes = 16 * 1024;
/** The body limit of a JSON (or any non-multipart) request: commands and queries are small. */
export const jsonBodyBytes = 1024 * 1024;

/**
 * Refuses a body over `maxBytes` with 413 before anything parses it: at once when
 * `Content-Length` says so, else as soon as the streamed body passes the limit. Multipart
 * bodies (uploads) may instead be as large as `maxUploadBytes`, when given.
 */
export function limitBody(maxBytes: number, maxUploadBytes?: number): MiddlewareHandler {
  const limited = (max: number) =>
    bodyLimit({
      maxSize: max,
      onError: () => {
        throw new PayloadTooLargeError(`the request body is over ${max} bytes`, { detail: { limit: max } });
      },
    });
  const small = limited(maxBytes);
  const large = maxUploadBytes === undefined ? small : limited(maxUploadBytes);
  return (c, next) =>
    /^multipart\//i.test(c.req.header('content-type') ?? '') ? large(c, next) : small(c, next);
}

/** The request's JSON body checked against `schema`; what is wrong is named in the 400. */
export async function jsonBody<T extends z.ZodTypeAny>(c: Context, schema: T): Promise<z.infer<T>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(.+\+)?json\b/i.test(type)) {
    throw new UnsupportedMediaTypeError('the body must be application/json', {
      detail: { contentType: type },
    });
  }
  let value: unknown;
  try {
    value = await c.req.json();
  } catch (error) {
    throw new ValidationError('the body is not valid JSON', { cause: error });
  }
  assertNoPrototypeKeys(value);
  const parsed = schema.safeParse(value, { error: issueWording });
  if (!parsed.success) {
    throw new ValidationError('the body is not valid', {
      detail: { errors: issuesOf(parsed.error) },
    });
  }
  assertStorableText(parsed.data, 'the body');
  return parsed.data;
}

/** Keys that reach an object's prototype rather than the object when assigned or spread. */
const prototypeKeys = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Throws a 400 naming the place of any `__proto__`, `constructor` or `prototype` key: such a key
 * would otherwise be dropped without a word (zod) or reach a prototype (a merge). JSON.parse
 * keeps `__proto__` as an own key, so it is seen here.
 */
export function assertNoPrototypeKeys(value: unknown, what = 'the body'): void {
  const pending: [unknown, string][] = [[value, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, path] = next;
    if (item === null || typeof item !== 'object') continue;
    for (const [key, element] of Object.entries(item)) {
      const at = path === '' ? key : `${path}.${key}`;
      if (!Array.isArray(item) && prototypeKeys.has(key)) {
        throw new ValidationError(`${what} may not use the key ${key}`, { detail: { path: at } });
      }
      pending.push([element, at]);
    }
  }
}

// Without the `u` flag a regex sees UTF-16 code units, so it can find a surrogate without its pair.
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what it looks for
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * False for text PostgreSQL cannot store as `text` or `jsonb`, and UTF-8 cannot carry: text
 * holding U+0000 or an unpaired surrogate. Such input would otherwise fail deep in a write
 * (a 500) or, once in an event, in every projector that reads it.
 */
export function isStorableText(text: string): boolean {
  return !unstorable.test(text);
}

/**
 * Throws a 400 naming the place when any string in `value` (object keys included) is not
 * storable text (see `isStorableText`). Walks without recursion: JSON may nest deeply.
 */
export function assertStorableText(value: unknown, what: string): void {
  const pending: [unknown, string][] = [[value, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, path] = next;
    const at = (key: string | number) => (path === '' ? String(key) : `${path}.${key}`);
    let storable = true;
    if (typeof item === 'string') storable = isStorableText(item);
    else if (Array.isArray(item)) item.forEach((element, index) => pending.push([element, at(index)]));
    else if (item !== null && typeof item === 'object') {
      for (const [key, element] of Object.entries(item)) {
        if (!isStorableText(key)) throw unstorableText(what, at(key));
        pending.push([element, at(key)]);
      }
    }
    if (!storable) throw unstorableText(what, path);
  }
}

function unstorableText(what: string, path: string): ValidationError {
  return new ValidationError(`${what} holds text that cannot be stored (U+0000 or an unpaired surrogate)`, {
    detail: { path },
  });
}

/** A path parameter that must be a UUID; anything else is a malformed request (400). */
export function uuidParam(c: Context, name: string): string {
  const value = c.req.param(name) ?? '';
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
    throw new ValidationError(`${name} must be a UUID`, { detail: { [name]: value } });
  }
  return value.toLowerCase();
}
