/**
 * Progress of a long run (an import, a rebuild, a recovery): one implementation of the
 * arithmetic (rate, ETA), the one-line rendering and the bar on a stream. Metrics publish the
 * same figures (`progressMetrics.ts`).
 */

export type ProgressState = {
  done: number;
  total: number;
  failed: number;
  /** Bytes sent so far; left out where bytes mean nothing (waiting for indexing, a replay). */
  bytes?: number;
  elapsedMs: number;
  /** A passing remark, e.g. "rate limited, retrying in 12 s". */
  note?: string;
};

export type ProgressFigures = {
  /** 0…1; an empty run (total 0) is complete. */
  fraction: number;
  /** Items per second since the start (0 before any time passed). */
  perSecond: number;
  /** Seconds left at that rate; 0 when done, undefined while nothing is done yet. */
  etaSeconds: number | undefined;
};

/** Fraction done, rate and time left from done / total / elapsed. */
export function progressFigures(state: { done: number; total: number; elapsedMs: number }): ProgressFigures {
  const { done, total, elapsedMs } = state;
  const fraction = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total));
  const perSecond = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const left = Math.max(0, total - done);
  const etaSeconds = left === 0 ? 0 : perSecond > 0 ? left / perSecond : undefined;
  return { fraction, perSecond, etaSeconds };
}

/** How bytes are shown (the CLI passes its own formatter); plain bytes by default. */
export type BytesFormatter = (bytes: number) => string;

const plainBytes: BytesFormatter = (bytes) => `${bytes} B`;

/**
 * One line of progress, at most `columns` wide:
 * `[########............] 45/120  38%  2 failed  12.3 MiB  4.1/s  eta 18s`.
 */
export function renderProgressLine(
  state: ProgressState,
  columns = 80,
  formatBytes: BytesFormatter = plainBytes,
): string {
  const { done, total, failed, bytes } = state;
  const { fraction, perSecond, etaSeconds } = progressFigures(state);
  const parts = [
    `${done}/${total}`,
    `${String(Math.floor(fraction * 100)).padStart(3)}%`,
    ...(failed > 0 ? [`${failed} failed`] : []),
    ...(bytes === undefined ? [] : [formatBytes(bytes)]),
    `${perSecond.toFixed(1)}/s`,
    ...(done < total && etaSeconds !== undefined
      ? [`eta ${formatDuration(Math.max(1000, etaSeconds * 1000))}`]
      : []),
    ...(state.note ? [state.note] : []),
  ];
  const text = parts.join('  ');
  const barWidth = Math.max(10, Math.min(30, columns - text.length - 3));
  const filled = Math.round(fraction * barWidth);
  const line = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${text}`;
  return [...line].slice(0, Math.max(columns - 1, 20)).join('');
}

/** 850ms, 12s, 3m05s, 1h02m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export type ProgressBar = {
  update(state: ProgressState): void;
  /** Leaves the last line in place and moves to the next (elsewhere than a terminal: prints it if not yet printed). */
  finish(): void;
};

export type ProgressBarOptions = {
  formatBytes?: BytesFormatter;
  /**
   * Elsewhere than a terminal, also print a line whenever this long passed since the last one
   * (a replay that takes minutes shows it is alive, not only every 10 %).
   */
  plainEveryMs?: number;
  /** The clock (tests). */
  now?: () => number;
};

/**
 * Progress on a stream (stderr): redrawn in place on a terminal, at most ten times a second;
 * elsewhere (a log file, CI) one plain line every 10 % — and every `plainEveryMs` if given —
 * so logs stay readable.
 */
export function createProgressBar(
  stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY' | 'columns'>,
  label: string,
  options: ProgressBarOptions = {},
): ProgressBar {
  const tty = stream.isTTY === true;
  const now = options.now ?? Date.now;
  let lastDraw = 0;
  let lastDecile = -1;
  let lastPlainAt: number | undefined;
  let last: ProgressState | undefined;
  let lastPrinted: ProgressState | undefined;
  const draw = (state: ProgressState) => {
    const columns = (stream.columns ?? 80) - label.length - 1;
    stream.write(`\r\x1b[2K${label} ${renderProgressLine(state, columns, options.formatBytes)}`);
  };
  const plain = (state: ProgressState) => {
    lastPlainAt = now();
    lastPrinted = state;
    stream.write(`${label} ${renderProgressLine({ ...state }, 100, options.formatBytes)}\n`);
  };
  return {
    update(state) {
      last = state;
      if (tty) {
        const at = now();
        if (at - lastDraw < 100 && state.done < state.total && !state.note) return;
        lastDraw = at;
        draw(state);
        return;
      }
      const decile = state.total === 0 ? 10 : Math.floor((state.done / state.total) * 10);
      const due =
        options.plainEveryMs !== undefined &&
        lastPlainAt !== undefined &&
        now() - lastPlainAt >= options.plainEveryMs;
      if (decile === lastDecile && !due) return;
      lastDecile = decile;
      plain(state);
    },
    finish() {
      if (!last) return;
      if (tty) {
        draw(last);
        stream.write('\n');
      } else if (lastPrinted !== last) {
        plain(last);
      }
    },
  };
}
