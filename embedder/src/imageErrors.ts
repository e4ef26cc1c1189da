/**
 * Why an uploaded image cannot be embedded. Both classes sit in the platform hierarchy, so an
 * app's `onError` answers 415 or 422 with the `reason` in the problem details.
 */
import { UnprocessableError, UnsupportedMediaTypeError } from '@deeplens/platform/errors';

export type UnsupportedImageReason = 'unsupported_format';
export type UnprocessableImageReason = 'empty' | 'truncated' | 'corrupt' | 'too_many_pixels';
export type ImageRejectionReason = UnsupportedImageReason | UnprocessableImageReason;

/** The bytes are not an image format we decode (text, PDF, SVG, random bytes…). */
export class UnsupportedImageError extends UnsupportedMediaTypeError {
  constructor(
    readonly reason: UnsupportedImageReason,
    message: string,
    options: { cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause, detail: { reason, ...options.detail } });
  }
}

/** A supported format whose content cannot be decoded or is too large to decode safely. */
export class UnprocessableImageError extends UnprocessableError {
  constructor(
    readonly reason: UnprocessableImageReason,
    message: string,
    options: { cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(message, { cause: options.cause, detail: { reason, ...options.detail } });
  }
}

export type ImageRejectedError = UnsupportedImageError | UnprocessableImageError;

export function isImageRejectedError(error: unknown): error is ImageRejectedError {
  return error instanceof UnsupportedImageError || error instanceof UnprocessableImageError;
}
