import { activeTraceIds } from './telemetry.ts';

/** Structured logs: one JSON object per line on stdout, with a level, a time and fields. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export type Logger = {
  [L in LogLevel]: (message: string, fields?: LogFields) => void;
} & { child(fields: LogFields): Logger };

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    return {
      name: value.name,
      message: value.message,
      code: (value as { code?: unknown }).code,
      cause: value.cause === undefined ? undefined : serialise(value.cause),
    };
  }
  return value;
}

/** A logger for one process or component; `child` adds fields (tenant, image…) to every line. */
export function createLogger(
  bindings: LogFields,
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Logger {
  const emit =
    (lineLevel: LogLevel) =>
    (message: string, fields: LogFields = {}) => {
      if (order[lineLevel] < order[level]) return;
      const entries = Object.entries({ ...bindings, ...fields }).map(([k, v]) => [k, serialise(v)]);
      write(
        JSON.stringify({
          time: new Date().toISOString(),
          level: lineLevel,
          msg: message,
          // Inside a span, the line names its trace and span, so logs and traces join up.
          ...activeTraceIds(),
          ...Object.fromEntries(entries),
        }),
      );
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger({ ...bindings, ...fields }, level, write),
  };
}
