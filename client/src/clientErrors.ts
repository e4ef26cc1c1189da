/**
 * What the client throws. Every HTTP refusal becomes a `DeepLensApiError` carrying the server's
 * RFC 9457 problem details; a server that cannot be reached, a wait that runs out, each has
 * its own class, so a caller (the CLI) can tell the three apart without parsing messages.
 */
export class DeepLensClientError extends Error {
  override get name(): string {
    return this.constructor.name;
  }
}

/** RFC 9457 problem details as both DeepLens APIs answer them. */
export type ProblemDetails = {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Our stable error code (`validation_failed`, `forbidden`, `limit_exceeded`, …). */
  code: string;
  retriable: boolean;
  instance?: string;
  requestId?: string;
  /** Extension members (e.g. `retryAfterSeconds`, `errors`, `limit`). */
  [extension: string]: unknown;
};

/** The API answered with an error status; `problem` is its problem+json body. */
export class DeepLensApiError extends DeepLensClientError {
  readonly status: number;
  readonly code: string;
  readonly retriable: boolean;
  readonly problem: ProblemDetails;
  /** `METHOD url` of the request that failed. */
  readonly request: string;

  constructor(problem: ProblemDetails, request: string) {
    super(`${problem.detail} (${problem.status} ${problem.code})`);
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
    this.retriable = problem.retriable;
    this.request = request;
  }
}

/** The server could not be reached at all (refused, reset, DNS). */
export class DeepLensUnreachableError extends DeepLensClientError {
  readonly url: string;

  constructor(url: string, cause: unknown) {
    const reason = describeNetworkError(cause);
    super(`cannot reach ${new URL(url).origin}${reason ? ` (${reason})` : ''}`, { cause });
    this.url = url;
  }
}

/** `waitUntilIndexed` ran out of time; `pending` says where each unfinished image stood. */
export class DeepLensTimeoutError extends DeepLensClientError {
  readonly pending: { id: string; status: string }[];

  constructor(message: string, pending: { id: string; status: string }[]) {
    super(message);
    this.pending = pending;
  }
}

/**
 * The problem an error response carries. A body that is not problem+json (a proxy's HTML page,
 * an empty 502) still yields one, built from the status, so callers need only one shape.
 */
export function problemOf(status: number, statusText: string, body: unknown): ProblemDetails {
  if (isProblem(body)) {
    return { ...body, retriable: typeof body.retriable === 'boolean' ? body.retriable : status >= 500 };
  }
  const text = typeof body === 'string' ? body.trim().slice(0, 300) : '';
  const title = statusText || `HTTP ${status}`;
  return {
    type: 'about:blank',
    title,
    status,
    detail: text === '' ? title : text,
    code: `http_${status}`,
    retriable: status === 429 || status >= 500,
  };
}

function isProblem(body: unknown): body is ProblemDetails {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b['status'] === 'number' && typeof b['code'] === 'string' && typeof b['detail'] === 'string';
}

function describeNetworkError(error: unknown): string {
  // undici's "fetch failed" hides the real reason (ECONNREFUSED…) in its cause.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    return typeof code === 'string' ? code : cause.message;
  }
  return '';
}
