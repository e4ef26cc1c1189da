import { progressMetrics } from '@deeplens/platform/progressMetrics';

/**
 * Publishes a rebuild's progress as metrics, the same figures as its progress bar:
 * `deeplens_projection_rebuild_records{projection,state}`, `…_records_per_second{projection}`,
 * `…_eta_seconds{projection}`.
 */
export const rebuildProgressMetrics = progressMetrics({
  name: 'deeplens_projection_rebuild',
  what: 'Projection rebuild',
  labelNames: ['projection'] as const,
});
