/** Composition root of the projector process. */
import { runProcess } from '@deeplens/platform/processLifecycle';
import { startProjectors } from './projectorProcess.ts';

await runProcess('projectors', startProjectors);
