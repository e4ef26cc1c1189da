/**
 * This process's readiness: components (a consumer's halted partition, a projection replaying
 * the log) report why the process is not ready; `/readyz` answers 503 with those reasons until
 * every one is cleared. One registry per process, like the metrics registry.
 */
export type NotReadyReason = {
  /** Who reports it, e.g. `projection metadata` or `consumer eraser deeplens.tenant.v1:2`. */
  component: string;
  reason: string;
  topic?: string;
  partition?: number;
  offset?: number;
  [detail: string]: unknown;
};

const reasons = new Map<string, NotReadyReason>();

/** Marks `component` as not ready, replacing what it reported before. */
export function reportNotReady(reason: NotReadyReason): void {
  reasons.set(reason.component, reason);
}

/** `component` is ready again. */
export function clearNotReady(component: string): void {
  reasons.delete(component);
}

/** Whether the process is ready, and if not, every reason (the `/readyz` body). */
export function readiness(): { ready: boolean; reasons: NotReadyReason[] } {
  return { ready: reasons.size === 0, reasons: [...reasons.values()] };
}
