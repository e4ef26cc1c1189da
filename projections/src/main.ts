/**
 * Composition root of the projector process.
 *   npx tsx projections/src/main.ts [--skip topic:partition:offset]…
 * `--skip` passes records that halted a partition (recorded in `projections.failures`).
 */
import { runProcess } from '@deeplens/platform/processLifecycle';
import { startProjectors } from './projectorProcess.ts';
import { parseSkipArguments } from './skipArguments.ts';

let skip: string[];
try {
  skip = parseSkipArguments(process.argv.slice(2)).skip;
} catch (error) {
  console.error(
    `${error instanceof Error ? error.message : String(error)}\nusage: main.ts [--skip topic:partition:offset]…`,
  );
  process.exit(2);
}
await runProcess('projectors', (config, log) => startProjectors(config, log, { skip }));
