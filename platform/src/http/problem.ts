import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isDependencyUnavailable } from '../dependencyFailures.ts';
import { DeepLensError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/**
 * RFC 9457 problem details: every error either API answers is one of these, with our stable
 * `code` (the same as the error hierarchy's) beside the standard members, so clients branch
 * on `code` and people read `title` and `detail`.
 */
export type ProblemDetails = {
  /** A URI naming the kind of problem: `urn:deeplens:problem:<code>` unless configured. */
  type: string;
  /** The same for every occurrence of this kind. */
  title: string;
  status: number;
  /** This occurrence, in words. */
  detail: string;
  /** The request path (without the query, which may carry secrets). */
  instance?: string;
  code: string;
  /** True when the same request may succeed later (optimistic concurrency, an outage). */
  retriable: boolean;
  /** Extension members: what the error's `detail` record carries. */
  [extension: string]: unknown;
};

export type ProblemOptions = {
  /** Prefix of `type`; the code is appended. `urn:deeplens:problem:` by default. */
  typeBase?: string;
};

export const problemContentType = 'application/problem+json';

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Codes for statuses that reach us as Hono `HTTPException`s; the same words as our errors. */
const codesByStatus: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'limit_exceeded',
  500: 'internal_error',
  503: 'unavailable',
};

const titleOf = (status: number) => titles[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');

/**
 * The problem for any thrown value. A `DeepLensError` keeps its code, status, message and
 * `detail` (as extension members); a Hono `HTTPException` keeps its status and message. Anything
 * else is a bug: 500 with a generic text, since its message or stack may hold internals or
 * secrets (log the error itself, as `problemErrorHandler` does).
 */
export function toProblem(error: unknown, instance?: string, options: ProblemOptions = {}): ProblemDetails {
  const typeBase = options.typeBase ?? 'urn:deeplens:problem:';
  const problem = (status: number, code: string, detail: string, retriable: boolean, extra = {}) => ({
    ...extra,
    type: `${typeBase}${code}`,
    title: titleOf(status),
    status,
    detail,
    ...(instance === undefined ? {} : { instance }),
    code,
    retriable,
  });

  if (error instanceof DeepLensError) {
    return problem(error.status, error.code, error.message, error.retriable, error.detail);
  }
  if (error instanceof HTTPException) {
    const { status } = error;
    const code = codesByStatus[status] ?? `http_${status}`;
    // Hono's own 5xx messages are not written for clients.
    const detail = status >= 500 || error.message === '' ? titleOf(status) : error.message;
    return problem(status, code, detail, status === 503);
  }
  if (isDependencyUnavailable(error)) {
    return problem(503, 'unavailable', 'A service DeepLens depends on is unavailable; retry shortly.', true, {
      retryAfterSeconds: 2,
    });
  }
  return problem(500, 'internal_error', 'An unexpected error occurred; it has been logged.', false);
}

/** A problem+json response; `headers` are added (e.g. `Retry-After`). */
export function problemResponse(problem: ProblemDetails, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(problem), {
    status: problem.status,
    headers: { ...headers, 'Content-Type': problemContentType },
  });
}

export type ProblemErrorHandlerOptions = ProblemOptions & {
  /** Names the protection space in a default `WWW-Authenticate` challenge. `deeplens` by default. */
  realm?: string;
};

/**
 * The `app.onError` of both APIs: answers problem+json and logs server errors (5xx) with the
 * error, its cause chain and stack; client errors are logged at debug level only.
 *
 * Headers the failing middleware already set survive (the authentication middleware sets
 * `WWW-Authenticate`); a 401 without one gets a default challenge, and a `retryAfterSeconds`
 * in the error's detail becomes `Retry-After` (429, 503).
 */
export function problemErrorHandler(log: Logger, options: ProblemErrorHandlerOptions = {}): ErrorHandler {
  const realm = options.realm ?? 'deeplens';
  return (error, c) => {
    if (isClientAbort(error, c)) {
      // Nobody is left to answer, and nothing of ours failed: not a 503, not an error log.
      log.info('request aborted by the client', { method: c.req.method, path: c.req.path });
      const problem = toProblem(error, c.req.path, options);
      return respond(c, {
        ...problem,
        type: `${options.typeBase ?? 'urn:deeplens:problem:'}client_aborted`,
        title: titleOf(499),
        status: 499,
        detail: 'the client closed the request before it was answered',
        code: 'client_aborted',
        retriable: false,
      });
    }
    const problem = toProblem(error, c.req.path, options);
    const requestId = (c.var as Record<string, unknown>)['requestId'];
    if (typeof requestId === 'string') problem['requestId'] = requestId;

    const fields = {
      method: c.req.method,
      path: c.req.path,
      status: problem.status,
      code: problem.code,
      requestId,
    };
    if (problem.status >= 500) {
      log.error('request failed', {
        ...fields,
        error,
        stack: error instanceof Error ? error.stack : undefined,
      });
    } else {
      log.debug('request refused', { ...fields, detail: problem.detail });
    }

    if (error instanceof HTTPException && error.res) {
      // Middleware such as basic-auth puts its challenge on the response it attaches.
      for (const [name, value] of error.res.headers) {
        if (!/^content-(type|length)$/i.test(name)) c.header(name, value, { append: true });
      }
    }
    if (problem.status === 401 && !c.res.headers.has('WWW-Authenticate')) {
      c.header('WWW-Authenticate', `Bearer realm="${realm}"`);
    }
    const retryAfter = problem['retryAfterSeconds'];
    if (typeof retryAfter === 'number' && retryAfter > 0)
      c.header('Retry-After', String(Math.ceil(retryAfter)));
    return respond(c, problem);
  };
}

/**
 * Whether a request failed because its client went away: the request's signal aborted, or its
 * body stream broke off (Node's `aborted` / ECONNRESET on the incoming side). Our own
 * connections failing (PostgreSQL, S3) say other things, and remain 503s.
 */
export function isClientAbort(error: unknown, c: Context): boolean {
  if (c.req.raw.signal.aborted) return true;
  for (let current: unknown = error, depth = 0; current && depth < 8; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (message === 'aborted' && (code === 'ECONNRESET' || code === 'ABORT_ERR')) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The `app.notFound` of both APIs: a problem+json 404 naming the method and path. */
export function notFoundHandler(options: ProblemOptions = {}): NotFoundHandler {
  return (c) =>
    respond(
      c,
      toProblem(
        new HTTPException(404, { message: `No route for ${c.req.method} ${c.req.path}` }),
        c.req.path,
        options,
      ),
    );
}

function respond(c: Context, problem: ProblemDetails): Response {
  c.header('Content-Type', problemContentType);
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode);
}
