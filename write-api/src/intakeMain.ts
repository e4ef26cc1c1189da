/** Composition root of the intake process. */
import { runProcess } from '@deeplens/platform/processLifecycle';
import { startIntake } from './intakeProcess.ts';

await runProcess('intake', startIntake);
