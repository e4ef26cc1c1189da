import type { Kafka } from 'kafkajs';
import type { CommandHandler } from '@deeplens/commands/commandHandler';
import type { EventSerde } from '@deeplens/events/eventSerde';
import { topics } from '@deeplens/events/topics';
import { startConsumerRuntime, type ConsumerRuntime } from '@deeplens/platform/consumerRuntime';
import type { DatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import { createIntakeHandler } from './intakeHandler.ts';
import type { IntakeUploads } from './intakeUploads.ts';

export type IntakeConsumerOptions = {
  kafka: Kafka;
  pool: DatabasePool;
  handler: CommandHandler;
  serde: EventSerde;
  log: Logger;
  /** Checks the object a `RegisterImage` names by reading it (`createIntakeUploads`). */
  uploads: Pick<IntakeUploads, 'verify' | 'registered'>;
  topic?: string;
  /** Where a record whose handling fails for no reason of its own goes (a bug, not a refusal). */
  deadLetterTopic?: string;
  groupId?: string;
  clock?: () => number;
  /** Attempts at a transient failure before the record is given back to Kafka (runtime default 5). */
  maxAttempts?: number;
};

/**
 * Runs intake records from event-producing integrations through the same deciders as the HTTP
 * API, on the consumer runtime (`intakeHandler.ts` holds the decisions). The records are
 * foreign: a malformed, unauthorised or refused one becomes an `IntakeRejected` event with the
 * reason, visible to its tenant, and the consumer carries on; one whose handling fails for no
 * reason of its own goes to the intake dead-letter topic. A transient failure (PostgreSQL or
 * storage down) is retried with backoff and then given back to Kafka, never dead-lettered.
 */
export function createIntakeConsumer(options: IntakeConsumerOptions) {
  const intake = createIntakeHandler(options);
  let runtime: ConsumerRuntime | undefined;
  return {
    async start(): Promise<void> {
      runtime = await startConsumerRuntime({
        name: 'intake',
        kafka: options.kafka,
        groupId: options.groupId ?? 'deeplens-intake',
        topics: [options.topic ?? topics.intake],
        log: options.log,
        decode: intake.read,
        handle: intake.handle,
        // Every refusal is a rejection already; what is left failing is poison, not ours to halt on.
        onUndecodable: 'dead-letter',
        onFailure: 'dead-letter',
        deadLetterTopic: options.deadLetterTopic ?? topics.intakeDlq,
        whenRetriesRunOut: 'redeliver',
        // A fetch returns as soon as a record arrives: a longer wait only polls an idle topic less.
        maxWaitTimeInMs: 1_000,
        ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
      });
    },
    async stop(): Promise<void> {
      await runtime?.stop();
    },
    get counts() {
      return { ...intake.counts };
    },
  };
}
