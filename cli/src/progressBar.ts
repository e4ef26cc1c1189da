/**
 * The CLI's progress bar: the platform's (one implementation, shared with rebuild and recover),
 * showing bytes the CLI's way.
 */
import {
  createProgressBar as createPlatformProgressBar,
  renderProgressLine as renderPlatformProgressLine,
  type ProgressBar,
  type ProgressBarOptions,
  type ProgressState,
} from '@deeplens/platform/progressBar';
import { formatBytes } from './formatTable.ts';

export { formatDuration, type ProgressBar, type ProgressState } from '@deeplens/platform/progressBar';

export function renderProgressLine(state: ProgressState, columns = 80): string {
  return renderPlatformProgressLine(state, columns, formatBytes);
}

export function createProgressBar(
  stream: NodeJS.WriteStream,
  label: string,
  options: Omit<ProgressBarOptions, 'formatBytes'> = {},
): ProgressBar {
  return createPlatformProgressBar(stream, label, { ...options, formatBytes });
}
