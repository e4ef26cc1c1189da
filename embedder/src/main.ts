/** Composition root of the embedder process. */
import { runProcess } from '@deeplens/platform/processLifecycle';
import { startEmbedder } from './embedderProcess.ts';

await runProcess('embedder', startEmbedder);
