/**
 * The one error hierarchy of DeepLens. Every error carries a stable `code`, the HTTP status
 * it maps to, whether a retry may succeed, and its `cause`; each app's `onError` turns them
 * into RFC 9457 problem+json.
 */
export interface DomainErrorOptions {
  cause?: unknown;
  detail?: Record<string, unknown>;
}

export abstract class DeepLensError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  readonly retriable: boolean = false;
  readonly detail: Record<string, unknown> | undefined;

  constructor(message: string, options: DomainErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.detail = options.detail;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** The input was malformed or broke a rule of its own shape. */
export class ValidationError extends DeepLensError {
  readonly code = 'validation_failed';
  readonly status = 400;
}

export class UnauthenticatedError extends DeepLensError {
  readonly code = 'unauthenticated';
  readonly status = 401;
}

export class ForbiddenError extends DeepLensError {
  readonly code = 'forbidden';
  readonly status = 403;
}

/** Also what another tenant's resource answers, so existence never leaks. */
export class NotFoundError extends DeepLensError {
  readonly code = 'not_found';
  readonly status = 404;
}

/** A business rule refused the command (duplicate slug, deleted image, suspended tenant…). */
export class ConflictError extends DeepLensError {
  readonly code: string = 'conflict';
  readonly status = 409;
}

/** Optimistic concurrency: the aggregate moved on since it was read. */
export class ConcurrencyError extends ConflictError {
  override readonly code = 'concurrency_conflict';
  override readonly retriable = true;
}

export class PayloadTooLargeError extends DeepLensError {
  readonly code = 'payload_too_large';
  readonly status = 413;
}

export class UnsupportedMediaTypeError extends DeepLensError {
  readonly code = 'unsupported_media_type';
  readonly status = 415;
}

/** The bytes parse but cannot be processed (corrupt image, pixel bomb…). */
export class UnprocessableError extends DeepLensError {
  readonly code = 'unprocessable';
  readonly status = 422;
}

export class LimitExceededError extends DeepLensError {
  readonly code = 'limit_exceeded';
  readonly status = 429;
}

/** A dependency (Kafka, Postgres, object store) is down; the client may retry. */
export class UnavailableError extends DeepLensError {
  readonly code = 'unavailable';
  readonly status = 503;
  override readonly retriable = true;
}
