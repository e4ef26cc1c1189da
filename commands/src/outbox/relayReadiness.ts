import { Gauge } from 'prom-client';
import { metricsRegistry } from '@deeplens/platform/metrics';
import { clearNotReady, reportNotReady } from '@deeplens/platform/readiness';

/** 1 while the relay cannot publish, by why (`data-key`: a data key that does not unwrap). */
export const relayBlocked = new Gauge({
  name: 'deeplens_relay_blocked',
  help: 'Whether the outbox relay is stuck retrying a batch it cannot publish (1), by reason',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});

const component = 'outbox relay';
const unwrapFailure =
  /the (?:wrapped )?data key of (\S+) (does not unwrap with DATA_KEY_MASTER_KEY|is malformed)/;

/** The subject whose data key failed to unwrap, found anywhere in the error's cause chain. */
function dataKeyFailureOf(error: unknown): { subject: string; failure: string } | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    const match = unwrapFailure.exec(e.message);
    if (match) return { subject: match[1]!, failure: match[2]! };
  }
  return undefined;
}

/**
 * The relay's readiness. The relay never skips an outbox row: a batch it cannot publish is
 * retried until it can. When the reason is a data key that does not unwrap with the configured
 * `DATA_KEY_MASTER_KEY` (a wrong or rotated master key), retrying alone will not help, so the
 * process says so: `/readyz` is 503 naming the subject (never a key), and
 * `deeplens_relay_blocked{reason="data-key"}` is 1, until a batch is published again.
 */
export function relayReadiness() {
  let blocked = false;
  relayBlocked.set({ reason: 'data-key' }, 0);
  return {
    /** Give every error of the relay here (its `onError`). */
    onError(error: unknown): void {
      const failure = dataKeyFailureOf(error);
      if (!failure) return;
      blocked = true;
      relayBlocked.set({ reason: 'data-key' }, 1);
      reportNotReady({
        component,
        reason: `data key for subject ${failure.subject} ${failure.failure === 'is malformed' ? 'is malformed' : 'does not unwrap with DATA_KEY_MASTER_KEY'}: the relay retries the batch and skips nothing; configure the master key that wrapped it`,
        subject: failure.subject,
      });
    },
    /** A batch reached Kafka: whatever blocked the relay is behind it. */
    onPublished(): void {
      if (!blocked) return;
      blocked = false;
      relayBlocked.set({ reason: 'data-key' }, 0);
      clearNotReady(component);
    },
  };
}
