import type { Context } from 'hono';
import type { z } from 'zod';
import { UnsupportedMediaTypeError, ValidationError } from '../errors.ts';

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
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError('the body is not valid', {
      detail: { errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  return parsed.data as z.infer<T>;
}

/** A path parameter that must be a UUID; anything else cannot name a resource, so 404. */
export function uuidParam(c: Context, name: string): string {
  const value = c.req.param(name) ?? '';
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
    throw new ValidationError(`${name} must be a UUID`, { detail: { [name]: value } });
  }
  return value.toLowerCase();
}
