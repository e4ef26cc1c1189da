import { Gauge } from 'prom-client';
import { metricsRegistry } from '@deeplens/platform/metrics';

const registers = [metricsRegistry];

const records = new Gauge({
  name: 'deeplens_write_model_recovery_records',
  help: 'Write-model recovery: records read so far (state="done") and to read (state="total", from the end offsets at its start)',
  labelNames: ['state'] as const,
  registers,
});

const rate = new Gauge({
  name: 'deeplens_write_model_recovery_records_per_second',
  help: 'Write-model recovery: records read per second since it began',
  registers,
});

const eta = new Gauge({
  name: 'deeplens_write_model_recovery_eta_seconds',
  help: 'Write-model recovery: estimated seconds until every record is read (0 when done)',
  registers,
});

/** Publishes recovery progress as metrics (the same figures as its progress bar). */
export function recoveryProgressMetrics(progress: { done: number; total: number; elapsedMs: number }): void {
  const perSecond = progress.elapsedMs > 0 ? progress.done / (progress.elapsedMs / 1000) : 0;
  records.set({ state: 'done' }, progress.done);
  records.set({ state: 'total' }, progress.total);
  rate.set(perSecond);
  eta.set(perSecond > 0 ? Math.max(0, progress.total - progress.done) / perSecond : 0);
}
