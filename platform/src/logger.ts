import { pino, type DestinationStream } from 'pino';
import { activeTraceIds } from './telemetry.ts';

/**
 * Structured logs on pino: one JSON object per line on stdout —
 * `{"level":"info","time":"<ISO>","msg":…,"trace_id":…,"span_id":…,…fields}` — with
 * secret-named fields redacted.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export type Logger = {
  [L in LogLevel]: (message: string, fields?: LogFields) => void;
} & { child(fields: LogFields): Logger };

/** Field names whose values never reach a log line, at the top level or nested (up to three levels). */
export const redactedFieldNames = [
  'password',
  'newPassword',
  'currentPassword',
  'secret',
  'clientSecret',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'apiKey',
  'api_key',
  'authorization',
  'Authorization',
  'cookie',
  'Cookie',
  'accessKey',
  'accessKeyId',
  'secretAccessKey',
  'secretKey',
  'accountKey',
  'sasToken',
  'connectionString',
  'privateKey',
  'credential',
  'credentials',
] as const;

const redactPaths = redactedFieldNames.flatMap((name) => [name, `*.${name}`, `*.*.${name}`]);

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

function serialiseFields(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) out[key] = serialise(value);
  return out;
}

// Synchronous writes: a line logged just before the process exits is never lost.
let stdout: DestinationStream | undefined;
function stdoutDestination(): DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: true });
  return stdout;
}

function wrap(logger: pino.Logger): Logger {
  return {
    debug: (message, fields = {}) => logger.debug(fields, message),
    info: (message, fields = {}) => logger.info(fields, message),
    warn: (message, fields = {}) => logger.warn(fields, message),
    error: (message, fields = {}) => logger.error(fields, message),
    child: (fields) => wrap(logger.child(serialiseFields(fields))),
  };
}

/**
 * A logger for one process or component; `child` adds fields (tenant, image…) to every line.
 * `write` receives each line without its newline (tests collect them); by default lines go to
 * stdout synchronously.
 */
export function createLogger(
  bindings: LogFields,
  level: LogLevel = 'info',
  write?: (line: string) => void,
): Logger {
  const destination: DestinationStream = write
    ? { write: (line: string) => write(line.endsWith('\n') ? line.slice(0, -1) : line) }
    : stdoutDestination();
  const logger = pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      // Errors are serialised by `serialiseFields` (name, message, code, cause) under any key.
      serializers: { err: (value: unknown) => value },
      formatters: {
        level: (label) => ({ level: label }),
        log: serialiseFields,
      },
      // Inside a span, the line names its trace and span, so logs and traces join up.
      mixin: () => activeTraceIds() ?? {},
      redact: { paths: redactPaths, censor: '[Redacted]' },
    },
    destination,
  );
  return wrap(logger.child(serialiseFields(bindings)));
}
