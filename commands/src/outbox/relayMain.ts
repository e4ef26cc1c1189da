/** Composition root of the outbox-relay process. */
import { runProcess } from '@deeplens/platform/processLifecycle';
import { startOutboxRelay } from './relayProcess.ts';

await runProcess('outbox-relay', startOutboxRelay);
