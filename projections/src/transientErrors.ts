import { isRetriableError } from '@deeplens/platform/retriableErrors';

/**
 * Whether an error is a passing fault of a dependency (PostgreSQL, the schema registry, Kafka)
 * rather than a property of the record being applied. A transient error fails the batch so it
 * is retried; any other error halts the partition (the consumer runtime's policy).
 */
export const isTransientError: (error: unknown) => boolean = isRetriableError;
