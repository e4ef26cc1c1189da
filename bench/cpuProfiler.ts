/**
 * Preloaded into a DeepLens process by a benchmark (`NODE_OPTIONS=--import …/cpuProfiler.ts`;
 * Node 20 refuses `--cpu-prof` there) so that only the measured window is profiled: the first
 * SIGUSR2 starts V8's sampling profiler, the second writes
 * `$BENCH_CPU_PROFILE_DIR/<pid>.cpuprofile` (Chrome DevTools format).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () =>
        session.post('Profiler.setSamplingInterval', { interval: 500 }, () => session.post('Profiler.start')),
      );
      return;
    }
    running = false;
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
