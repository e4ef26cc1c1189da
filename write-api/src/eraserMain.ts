/** Composition root of the tenant-eraser process. */
import { runProcess } from '@deeplens/platform/processLifecycle';
import { startTenantEraser } from './eraserProcess.ts';

await runProcess('tenant-eraser', startTenantEraser);
