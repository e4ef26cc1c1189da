import { z } from 'zod';
import '@deeplens/platform/http/openApiRegistry';

/**
 * Admin-only request headers every read takes: a platform admin reads a point-in-time snapshot
 * generation (built by `rebuildMain.ts <projection> --until …`) beside the live one. Checked by
 * `generationSelection` (a middleware in front of every `/v1/*` route), documented on each
 * operation as `components.parameters.GenerationHeader` and `TenantHeader`.
 */
export const snapshotHeaders = z.object({
  'DeepLens-Generation': z
    .string()
    .optional()
    .openapi('GenerationHeader', {
      param: {
        name: 'DeepLens-Generation',
        in: 'header',
        required: false,
        examples: { perProjection: { value: 'metadata:7, vectors:4' }, bare: { value: '7' } },
        description:
          'Platform admins only: read these generations instead of the active ones — `<projection>:<generation>, …` (projections metadata, usage, vectors) or one bare number (every projection with a snapshot of that number). Anyone else sending it gets 403 problem+json; an unknown, dropped or still-building generation 404; a malformed value 400.',
      },
    }),
  'DeepLens-Tenant': z
    .string()
    .uuid()
    .optional()
    .openapi('TenantHeader', {
      param: {
        name: 'DeepLens-Tenant',
        in: 'header',
        required: false,
        description:
          'Platform admins only, and only with DeepLens-Generation: the tenant whose snapshot to read (a platform admin belongs to no tenant), with the admin’s read and search scopes only; ignored without DeepLens-Generation; not a tenant id: 400. Anyone else sending DeepLens-Generation gets 403.',
      },
    }),
});
