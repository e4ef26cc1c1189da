/** Starts the outbox relay process. */
import { bootstrapProcess } from '@deeplens/events/processBootstrap';
import { writeModelMigrations } from '../commandHandler.ts';
import type { Config } from '@deeplens/platform/config';
import type { Logger } from '@deeplens/platform/logger';
import { createOutboxRelay } from './outboxRelay.ts';
import { relayReadiness } from './relayReadiness.ts';

export async function startOutboxRelay(config: Config, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const { kafka, serde } = await bootstrapProcess(config, {
    clientId: 'deeplens-outbox-relay',
    migrations: [{ component: 'write-model', directory: writeModelMigrations }],
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  // Fault injection for the crash tests: die by SIGKILL after N batches are in Kafka but not yet marked.
  const killAfter = Number(process.env.DEEPLENS_FAULT_RELAY_KILL_AFTER_PUBLISH ?? 0);
  let batches = 0;
  // Never skips: a batch it cannot publish is retried; /readyz says why when retrying cannot help.
  const readiness = relayReadiness();
  const relay = createOutboxRelay({
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    databaseUrl: config.DATABASE_URL,
    producer,
    serde,
    afterPublish: () => {
      readiness.onPublished();
      if (killAfter > 0 && ++batches >= killAfter) process.kill(process.pid, 'SIGKILL');
    },
    onError: (error) => {
      readiness.onError(error);
      log.error('relay error; retrying', { error });
    },
  });
  relay.start();
  return {
    stop: async () => {
      await relay.stop();
      await producer.disconnect();
    },
  };
}
