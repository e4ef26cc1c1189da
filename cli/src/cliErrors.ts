import {
  DeepLensApiError,
  DeepLensTimeoutError,
  DeepLensUnreachableError,
} from '@deeplens/client/clientErrors';
import { UsageError } from './cliArguments.ts';

/** No credentials, or a session that can no longer be refreshed. */
export class NotSignedInError extends Error {
  override readonly name = 'NotSignedInError';
}

/** A command that ran but did not fully succeed (an import with failed files); already reported. */
export class PartialFailure extends Error {
  override readonly name = 'PartialFailure';
}

export const exitCodes = { ok: 0, failed: 1, usage: 2, unreachable: 3, notSignedIn: 4 } as const;

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return exitCodes.usage;
  if (error instanceof DeepLensUnreachableError) return exitCodes.unreachable;
  if (error instanceof NotSignedInError) return exitCodes.notSignedIn;
  if (error instanceof DeepLensApiError && error.status === 401) return exitCodes.notSignedIn;
  return exitCodes.failed;
}

/** What the CLI prints on standard error for an error: the server's words first, then a hint. */
export function describeError(error: unknown): string[] {
  if (error instanceof UsageError)
    return [`deeplens: ${error.message}`, 'run `npm run deeplens -- --help` for usage'];
  if (error instanceof DeepLensUnreachableError) {
    return [
      `deeplens: ${error.message}`,
      'is DeepLens running? start it with `npm run up`, or pass --write-url/--read-url',
    ];
  }
  if (error instanceof NotSignedInError) return [`deeplens: ${error.message}`];
  if (error instanceof DeepLensTimeoutError) {
    return [`deeplens: ${error.message}`, ...error.pending.slice(0, 10).map((p) => `  ${p.id}  ${p.status}`)];
  }
  if (error instanceof DeepLensApiError) {
    const { problem } = error;
    const lines = [
      `deeplens: ${problem.detail}`,
      `  ${problem.status} ${problem.code} · ${error.request}${problem.requestId ? ` · request ${problem.requestId}` : ''}`,
    ];
    const errors = problem['errors'];
    if (Array.isArray(errors)) {
      for (const item of errors.slice(0, 10)) {
        const entry = item as { path?: unknown; message?: unknown };
        lines.push(
          typeof item === 'string'
            ? `  - ${item}`
            : `  - ${typeof entry.path === 'string' && entry.path ? `${entry.path}: ` : ''}${typeof entry.message === 'string' ? entry.message : JSON.stringify(item)}`,
        );
      }
    }
    if (error.status === 401)
      lines.push('sign in with `npm run deeplens -- login --email <e>` (or set DEEPLENS_API_KEY)');
    if (error.status === 403) lines.push('the signed-in user or API key may not do this (role or scopes)');
    return lines;
  }
  if (error instanceof Error) return [`deeplens: ${error.message}`];
  return [`deeplens: ${String(error)}`];
}
