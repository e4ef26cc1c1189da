import type { MiddlewareHandler } from 'hono';
import type { DatabasePool } from '@deeplens/platform/database';
import { ForbiddenError, NotFoundError, ValidationError } from '@deeplens/platform/errors';
import { principalOf } from '@deeplens/platform/http/authenticate';
import { generationStatus, listGenerations } from '@deeplens/projections/generations';
import { withGenerations, type GenerationSelection } from '@deeplens/projections/generationScope';
import type { ReadApiEnv } from './readApiEnv.ts';

export const generationHeader = 'DeepLens-Generation';
export const generationTenantHeader = 'DeepLens-Tenant';

const projections = ['metadata', 'usage', 'vectors'] as const;
type ProjectionName = (typeof projections)[number];

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `DeepLens-Generation: metadata:7, vectors:4` (or a bare `7`: generation 7 of every projection
 * that has a snapshot numbered 7) makes this request read those generations instead of the
 * active ones — point-in-time snapshots built by `rebuildMain.ts <projection> --until …`.
 */
export function parseGenerationHeader(value: string): { projection?: ProjectionName; generation: number }[] {
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0 || parts.length > projections.length) {
    throw new ValidationError(
      `${generationHeader} takes <projection>:<generation>, … or one generation number`,
    );
  }
  const out = parts.map((part) => {
    const match = /^(?:([a-z]+):)?([1-9]\d{0,8})$/.exec(part);
    const projection = match?.[1];
    if (!match || (projection !== undefined && !(projections as readonly string[]).includes(projection))) {
      throw new ValidationError(
        `${generationHeader}: '${part.slice(0, 40)}' is not <projection>:<generation> (projections: ${projections.join(', ')})`,
      );
    }
    return { projection: projection as ProjectionName | undefined, generation: Number(match[2]) };
  });
  if (out.some((o) => o.projection === undefined) && out.length > 1) {
    throw new ValidationError(`${generationHeader}: a bare generation number stands alone`);
  }
  if (new Set(out.map((o) => o.projection)).size !== out.length) {
    throw new ValidationError(`${generationHeader} names a projection twice`);
  }
  return out;
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
    const selection: Partial<Record<ProjectionName, number>> = {};
    const bare =
      wanted.length === 1 && wanted[0]!.projection === undefined ? wanted[0]!.generation : undefined;
    if (bare !== undefined) {
      const matching = (await listGenerations(pool)).filter(
        (g) => g.generation === bare && g.status === 'snapshot',
      );
      if (matching.length === 0) throw new NotFoundError(`no snapshot generation ${bare}`);
      for (const g of matching) selection[g.projection as ProjectionName] = g.generation;
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
      if (!uuid.test(tenant)) throw new ValidationError(`${generationTenantHeader} takes a tenant id`);
      c.set('principal', {
        ...principal,
        role: 'tenant_user',
        tenantId: tenant,
        scopes: principal.scopes.filter((s) => s === 'images:read' || s === 'search'),
      });
    }
    c.header('DeepLens-Generation-Read', describe(selection), { append: false });
    return withGenerations(selection as GenerationSelection, next);
  };
}

function describe(selection: Partial<Record<ProjectionName, number>>): string {
  const entries = Object.entries(selection);
  return entries.length === 0 ? 'active' : entries.map(([p, g]) => `${p}:${g}`).join(', ');
}
