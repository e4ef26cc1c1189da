import type { MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { DatabasePool } from '@deeplens/platform/database';
import { ForbiddenError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { principalOf } from '@deeplens/platform/http/authenticate';
import { issueWording } from '@deeplens/platform/http/openApiRegistry';
import { generationStatus, listGenerations } from '@deeplens/projections/generations';
import { withGenerations, type GenerationSelection } from '@deeplens/projections/generationScope';
import type { ReadApiEnv } from './readApiEnv.ts';
import {
  generationHeader,
  generationHeaderValue,
  generationTenantHeader,
  generationTenantHeaderValue,
  type SnapshotProjection,
  type WantedGeneration,
} from './routes/snapshotHeaders.ts';

/**
 * `DeepLens-Generation`'s value as `generationHeaderValue` (the schema the OpenAPI document
 * declares) parses it; a malformed value is a `ValidationError` (400) naming what is wrong.
 */
export function parseGenerationHeader(value: string): WantedGeneration[] {
  return parsedHeader(generationHeaderValue, value);
}

function parsedHeader<T>(schema: z.ZodType<T, string>, value: string): T {
  const result = schema.safeParse(value, { error: issueWording });
  if (result.success) return result.data;
  throw new ValidationError(result.error.issues[0]?.message ?? 'malformed header');
}

/**
 * Lets a platform admin read a point-in-time generation (`DeepLens-Generation`) instead of the
 * active one; anyone else sending the header gets 403, an unknown or dropped generation 404.
 * A platform admin belongs to no tenant, so it names the tenant to read with `DeepLens-Tenant`
 * (honoured only with `DeepLens-Generation`, on this read-only API, with the admin's read and
 * search scopes). Mount after `authenticate`.
 */
export function generationSelection(pool: DatabasePool): MiddlewareHandler<ReadApiEnv> {
  return async (c, next) => {
    const header = c.req.header(generationHeader);
    if (header === undefined) return next();
    const principal = principalOf(c);
    if (principal.role !== 'platform_admin') {
      throw new ForbiddenError(`only a platform admin may read another generation (${generationHeader})`);
    }
    const wanted = parseGenerationHeader(header);
    const selection: Partial<Record<SnapshotProjection, number>> = {};
    const bare =
      wanted.length === 1 && wanted[0]!.projection === undefined ? wanted[0]!.generation : undefined;
    if (bare !== undefined) {
      const matching = (await listGenerations(pool)).filter(
        (g) => g.generation === bare && g.status === 'snapshot',
      );
      if (matching.length === 0) throw new NotFoundError(`no snapshot generation ${bare}`);
      for (const g of matching) selection[g.projection as SnapshotProjection] = g.generation;
    } else {
      for (const { projection, generation } of wanted) {
        const status = await generationStatus(pool, projection!, generation);
        // A building generation is partial: never served.
        if (status !== 'snapshot' && status !== 'active') {
          throw new NotFoundError(`${projection} has no generation ${generation} to read`);
        }
        // The active generation is what every read sees anyway.
        if (status === 'snapshot') selection[projection!] = generation;
      }
    }
    const tenant = c.req.header(generationTenantHeader);
    if (tenant !== undefined) {
      c.set('principal', {
        ...principal,
        role: 'tenant_user',
        tenantId: parsedHeader(generationTenantHeaderValue, tenant),
        scopes: principal.scopes.filter((s) => s === 'images:read' || s === 'search'),
      });
    }
    c.header('DeepLens-Generation-Read', describe(selection), { append: false });
    return withGenerations(selection as GenerationSelection, next);
  };
}

function describe(selection: Partial<Record<SnapshotProjection, number>>): string {
  const entries = Object.entries(selection);
  return entries.length === 0 ? 'active' : entries.map(([p, g]) => `${p}:${g}`).join(', ');
}
