/**
 * Builds the web app into `web/dist` when it is missing or older than its sources (what
 * `npm run up` and the browser tests run first); `--force` builds in any case.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const webDir = join(import.meta.dirname, '..');

function newest(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

export function webBuildIsStale(): boolean {
  const built = statSync(join(webDir, 'dist', 'index.html'), { throwIfNoEntry: false });
  if (!built) return true;
  const sources = Math.max(
    newest(join(webDir, 'app')),
    newest(join(webDir, 'app', 'vite.config.ts')),
    newest(join(webDir, '..', 'client', 'src')),
  );
  return sources > built.mtimeMs;
}

export function buildWeb(options: { force?: boolean } = {}): void {
  if (!options.force && !webBuildIsStale()) {
    console.log('web: web/dist is up to date');
    return;
  }
  const vite = join(webDir, '..', 'node_modules', 'vite', 'bin', 'vite.js');
  const result = spawnSync(
    process.execPath,
    [vite, 'build', '--config', join(webDir, 'app', 'vite.config.ts')],
    {
      cwd: webDir,
      stdio: 'inherit',
    },
  );
  if (result.status !== 0) throw new Error(`web: vite build failed (exit ${result.status ?? result.signal})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href)
  buildWeb({ force: process.argv.includes('--force') });
