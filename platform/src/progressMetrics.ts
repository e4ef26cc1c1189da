import { Gauge } from 'prom-client';
import { metricsRegistry } from './metrics.ts';
import { progressFigures } from './progressBar.ts';

export type ProgressMetricsOptions<L extends string> = {
  /** Metric name prefix, e.g. `deeplens_projection_rebuild`. */
  name: string;
  /** What runs, for the help texts, e.g. "Projection rebuild". */
  what: string;
  labelNames?: readonly L[];
};

/**
 * Gauges for a long run's progress, the same figures as its progress bar (`progressFigures`):
 * `<name>_records{state="done"|"total"}`, `<name>_records_per_second`, `<name>_eta_seconds`.
 * Returns the function that publishes one reading.
 */
export function progressMetrics<L extends string = never>(
  options: ProgressMetricsOptions<L>,
): (
  progress: { done: number; total: number; elapsedMs: number },
  labels?: Partial<Record<L, string>>,
) => void {
  const registers = [metricsRegistry];
  const labelNames = [...(options.labelNames ?? [])];
  const records = new Gauge<string>({
    name: `${options.name}_records`,
    help: `${options.what}: records read so far (state="done") and to read (state="total", from the end offsets at its start)`,
    labelNames: [...labelNames, 'state'],
    registers,
  });
  const rate = new Gauge<string>({
    name: `${options.name}_records_per_second`,
    help: `${options.what}: records read per second since it began`,
    labelNames,
    registers,
  });
  const eta = new Gauge<string>({
    name: `${options.name}_eta_seconds`,
    help: `${options.what}: estimated seconds until every record is read (0 when done)`,
    labelNames,
    registers,
  });
  return (progress, labels = {}) => {
    const { perSecond, etaSeconds } = progressFigures(progress);
    const base = labels as Record<string, string>;
    records.set({ ...base, state: 'done' }, progress.done);
    records.set({ ...base, state: 'total' }, progress.total);
    rate.set(base, perSecond);
    // Unknown (nothing read yet): report 0 rather than a made-up figure.
    eta.set(base, etaSeconds ?? 0);
  };
}
