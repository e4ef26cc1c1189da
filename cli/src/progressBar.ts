import { formatBytes } from './formatTable.ts';

export type ProgressState = {
  done: number;
  total: number;
  failed: number;
  /** Bytes sent so far; left out where bytes mean nothing (waiting for indexing). */
  bytes?: number;
  elapsedMs: number;
  /** A passing remark, e.g. "rate limited, retrying in 12 s". */
  note?: string;
};

/**
 * One line of progress, at most `columns` wide:
 * `[########............] 45/120  38%  2 failed  12.3 MiB  4.1/s  eta 18s`.
 */
export function renderProgressLine(state: ProgressState, columns = 80): string {
  const { done, total, failed, bytes, elapsedMs } = state;
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const parts = [
    `${done}/${total}`,
    `${String(Math.floor(fraction * 100)).padStart(3)}%`,
    ...(failed > 0 ? [`${failed} failed`] : []),
    ...(bytes === undefined ? [] : [formatBytes(bytes)]),
    `${rate.toFixed(1)}/s`,
    ...(done < total && rate > 0
      ? [`eta ${formatDuration(Math.max(1000, ((total - done) / rate) * 1000))}`]
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
  /** Leaves the last line in place and moves to the next. */
  finish(): void;
};

/**
 * Progress on a stream (stderr): redrawn in place on a terminal, at most ten times a second;
 * elsewhere (a log file, CI) one plain line every 10 % so logs stay readable.
 */
export function createProgressBar(stream: NodeJS.WriteStream, label: string): ProgressBar {
  const tty = stream.isTTY === true;
  let lastDraw = 0;
  let lastDecile = -1;
  let last: ProgressState | undefined;
  const draw = (state: ProgressState) => {
    const columns = (stream.columns ?? 80) - label.length - 1;
    stream.write(`\r\x1b[2K${label} ${renderProgressLine(state, columns)}`);
  };
  return {
    update(state) {
      last = state;
      if (tty) {
        const now = Date.now();
        if (now - lastDraw < 100 && state.done < state.total && !state.note) return;
        lastDraw = now;
        draw(state);
      } else {
        const decile = state.total === 0 ? 10 : Math.floor((state.done / state.total) * 10);
        if (decile === lastDecile) return;
        lastDecile = decile;
        stream.write(`${label} ${renderProgressLine({ ...state }, 100)}\n`);
      }
    },
    finish() {
      if (tty && last) {
        draw(last);
        stream.write('\n');
      }
    },
  };
}
