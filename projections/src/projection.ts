import type { DeepLensEvent, DeepLensEventType } from '@deeplens/events/domainEvent';
import type { DatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import type { VectorIndex } from '@deeplens/platform/vectorIndex';
import type { TenantDatabases } from './tenantDatabases.ts';

/** A decoded event and where it sits in the log. */
export type RecordedEvent = {
  event: DeepLensEvent;
  topic: string;
  partition: number;
  offset: number;
};

/**
 * A record that could not be decoded or applied. Only the operator skips one (`--skip`,
 * `operatorSkip`): it is then recorded in `projections.failures` and passed over; any other
 * halts its partition.
 */
export type PoisonRecord = {
  topic: string;
  partition: number;
  offset: number;
  error: string;
  value: Buffer | null;
  operatorSkip?: boolean;
};

/**
 * Consecutive records of ONE topic partition. `lastOffset` is the offset the checkpoint moves
 * to once the batch is applied, even when its last records are events the projection ignores.
 */
export type ProjectionBatch = {
  topic: string;
  partition: number;
  events: RecordedEvent[];
  poison: PoisonRecord[];
  lastOffset: number;
};

/** `topic:partition` → the last offset applied. */
export type Checkpoints = Map<string, number>;

export const checkpointKey = (topic: string, partition: number): string => `${topic}:${partition}`;

/**
 * A projection of one generation, emmett style: `name`, `version`, the event types it can
 * handle, `handle` for a batch and `truncate`. `handle` must store the batch's checkpoint
 * atomically with its changes and skip records at or below the stored checkpoint, so a
 * redelivered batch is never applied twice.
 */
export interface Projection {
  readonly name: string;
  /** Bumped when the read model's shape or meaning changes: a cue to rebuild. */
  readonly version: number;
  readonly generation: number;
  readonly canHandle: readonly DeepLensEventType[];
  /** Where each topic partition stands; the runner resumes at checkpoint + 1. */
  checkpoints(): Promise<Checkpoints>;
  handle(batch: ProjectionBatch): Promise<void>;
  /** Removes this generation's read model and checkpoints: the next batch starts from nothing. */
  truncate(): Promise<void>;
  close(): Promise<void>;
}

/** What a projection needs from outside; `main.ts` builds it from the configuration. */
export type ProjectionDependencies = {
  pool: DatabasePool;
  log: Logger;
  /** Opens the vector index of one generation of the vector projection (writer or follower). */
  openVectorIndex?: (generation: number, mode: 'writer' | 'follower') => Promise<VectorIndex>;
  /** Removes a generation's vector index (files or collections). */
  dropVectorIndex?: (generation: number) => Promise<void>;
  /** Enterprise tenants' dedicated metadata databases (`tenantDatabases.ts`). */
  tenantDatabases?: TenantDatabases;
};

/** The durable parts of a projection: how to open a generation, switch to it and drop one. */
export interface ProjectionDefinition {
  readonly name: string;
  readonly version: number;
  open(deps: ProjectionDependencies, generation: number): Promise<Projection>;
  /** Runs inside the switch's transaction: make `to` what the read side reads. */
  activate(tx: Transaction, from: number | undefined, to: number): Promise<void>;
  /** Removes a retired generation's storage. */
  drop(deps: ProjectionDependencies, generation: number): Promise<void>;
}

export type Transaction = Parameters<Parameters<DatabasePool['transaction']>[0]>[0];

/** Thrown by a batch of a generation that was retired by a switch: its runner stops. */
export class GenerationRetiredError extends Error {
  override readonly name = 'GenerationRetiredError';
}
