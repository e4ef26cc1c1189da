import { z } from 'zod';
import '@deeplens/platform/http/openApiRegistry';

export const generationHeader = 'DeepLens-Generation';
export const generationTenantHeader = 'DeepLens-Tenant';

/** The projections a platform admin may read a snapshot generation of. */
export const snapshotProjections = ['metadata', 'usage', 'vectors'] as const;
export type SnapshotProjection = (typeof snapshotProjections)[number];

/** One entry of `DeepLens-Generation`: a projection's generation, or a bare generation number. */
export type WantedGeneration = { projection?: SnapshotProjection; generation: number };

/**
 * `DeepLens-Generation: metadata:7, vectors:4` (or a bare `7`: generation 7 of every projection
 * that has a snapshot numbered 7), parsed; each refusal's message is the 400's detail.
 */
export const generationHeaderValue = z.string().transform((value, ctx): WantedGeneration[] => {
  const refuse = (message: string) => {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message });
    return z.NEVER;
  };
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0 || parts.length > snapshotProjections.length) {
    return refuse(`${generationHeader} takes <projection>:<generation>, … or one generation number`);
  }
  const out: WantedGeneration[] = [];
  for (const part of parts) {
    const match = /^(?:([a-z]+):)?([1-9]\d{0,8})$/.exec(part);
    const projection = match?.[1];
    if (
      !match ||
      (projection !== undefined && !(snapshotProjections as readonly string[]).includes(projection))
    ) {
      return refuse(
        `${generationHeader}: '${part.slice(0, 40)}' is not <projection>:<generation> (projections: ${snapshotProjections.join(', ')})`,
      );
    }
    out.push({ projection: projection as SnapshotProjection | undefined, generation: Number(match[2]) });
  }
  if (out.some((o) => o.projection === undefined) && out.length > 1) {
    return refuse(`${generationHeader}: a bare generation number stands alone`);
  }
  if (new Set(out.map((o) => o.projection)).size !== out.length) {
    return refuse(`${generationHeader} names a projection twice`);
  }
  return out;
});

/** `DeepLens-Tenant`: the tenant whose snapshot a platform admin reads. */
export const generationTenantHeaderValue = z.string().uuid(`${generationTenantHeader} takes a tenant id`);

/**
 * Admin-only request headers every read takes: a platform admin reads a point-in-time snapshot
 * generation (built by `rebuildMain.ts <projection> --until …`) beside the live one. Checked by
 * `generationSelection` (a middleware in front of every `/v1/*` route) with these same schemas,
 * documented on each operation as `components.parameters.GenerationHeader` and `TenantHeader`.
 */
export const snapshotHeaders = z.object({
  [generationHeader]: generationHeaderValue.optional().openapi('GenerationHeader', {
    param: {
      name: generationHeader,
      in: 'header',
      required: false,
      examples: { perProjection: { value: 'metadata:7, vectors:4' }, bare: { value: '7' } },
      description:
        'Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400.',
    },
  }),
  [generationTenantHeader]: generationTenantHeaderValue.optional().openapi('TenantHeader', {
    param: {
      name: generationTenantHeader,
      in: 'header',
      required: false,
      description:
        'Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403.',
    },
  }),
});
