/** Composition root of the write-api process. */
import { runProcess } from '@deeplens/platform/processLifecycle';
import { startWriteApi } from './writeApiProcess.ts';

await runProcess('write-api', startWriteApi);
