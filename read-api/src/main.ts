/** Composition root of the read API process. */
import { runProcess } from '@deeplens/platform/processLifecycle';
import { startReadApi } from './readApiProcess.ts';

await runProcess('read-api', startReadApi);
