import { progressMetrics } from '@deeplens/platform/progressMetrics';

/**
 * Publishes recovery progress as metrics, the same figures as its progress bar:
 * `deeplens_write_model_recovery_records{state}`, `…_records_per_second`, `…_eta_seconds`.
 */
export const recoveryProgressMetrics = progressMetrics({
  name: 'deeplens_write_model_recovery',
  what: 'Write-model recovery',
});
