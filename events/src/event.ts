/** Metadata every DeepLens event carries (`schemas/EventMetadata.avsc`). */
export type EventMetadata = {
  /** A UUID chosen by the command side, so a retried decision can keep its ids. */
  eventId: string;
  /** The aggregate (stream) the event belongs to; also the Kafka message key. */
  aggregateId: string;
  /** The aggregate's version after this event: 1 for its first event. */
  aggregateVersion: number;
  /** Null only for platform-level facts (e.g. a platform admin's user events). */
  tenantId: string | null;
  /** Epoch milliseconds. */
  occurredAt: number;
  correlationId: string;
  causationId: string | null;
  /** `user:<id>`, `apikey:<id>` or `system:<process>`. */
  actor: string;
};

/** An event: a past-tense fact. `Data` mirrors the `data` record of the event's Avro schema. */
export type Event<Type extends string, Data, Meta = EventMetadata> = Readonly<{
  type: Type;
  data: Data;
  metadata: Meta;
}>;
