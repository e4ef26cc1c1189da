import type { DeepLensEventType } from './domainEvent.ts';

/** Every Kafka topic of DeepLens. The log of record: nothing is ever deleted by retention. */
export const topics = {
  tenant: 'deeplens.tenant.v1',
  identity: 'deeplens.identity.v1',
  image: 'deeplens.image.v1',
  intake: 'deeplens.intake.v1',
  intakeRejections: 'deeplens.intake-rejections.v1',
  embedderDlq: 'deeplens.embedder.dlq.v1',
  intakeDlq: 'deeplens.intake.dlq.v1',
} as const;

export type Topic = (typeof topics)[keyof typeof topics];

const topicByEventType: { readonly [T in DeepLensEventType]: Topic } = {
  TenantProvisioned: topics.tenant,
  TenantPlanChanged: topics.tenant,
  TenantStorageConfigured: topics.tenant,
  TenantSuspended: topics.tenant,
  TenantReactivated: topics.tenant,
  TenantDeleted: topics.tenant,
  StorageMoveStarted: topics.tenant,
  StorageMoveProgressed: topics.tenant,
  StorageMoveVerified: topics.tenant,
  StorageMoveCompleted: topics.tenant,
  StorageMoveFailed: topics.tenant,
  UserRegistered: topics.identity,
  UserRoleChanged: topics.identity,
  UserDisabled: topics.identity,
  UserErased: topics.identity,
  ApiKeyIssued: topics.identity,
  ApiKeyRevoked: topics.identity,
  IntakeKeyRegistered: topics.identity,
  IntakeKeyRevoked: topics.identity,
  ImageUploaded: topics.image,
  ImageEmbedded: topics.image,
  ImageEmbeddingFailed: topics.image,
  ThumbnailGenerated: topics.image,
  ImageMetadataUpdated: topics.image,
  ImageDeleted: topics.image,
  IntakeRejected: topics.intakeRejections,
  // Beside the ImageEmbedded events it retires, keyed by the space.
  EmbeddingSpaceRetired: topics.image,
};

/** The topic an event is published to (keyed by its aggregate id, so one stream keeps its order). */
export function topicOf(eventType: DeepLensEventType): Topic {
  return topicByEventType[eventType];
}

/**
 * The schema-registry subject of a record on a topic, as Confluent's TopicRecordNameStrategy
 * names it: several event types share a topic, each with its own evolving schema.
 */
export function subjectOf(topic: string, recordFullName: string): string {
  return `${topic}-${recordFullName}`;
}

/** Config every DeepLens topic is created with: events are kept forever. */
export const topicConfig: Readonly<Record<string, string>> = { 'retention.ms': '-1' };

/** `topicConfig` in the `{ name, value }` shape Kafka admin clients take. */
export const topicConfigEntries: ReadonlyArray<{ name: string; value: string }> = Object.entries(
  topicConfig,
).map(([name, value]) => ({ name, value }));

/**
 * The topics of one installation: the logical names with its `KAFKA_TOPIC_PREFIX` in front.
 * The outbox stores logical names; the relay and every consumer use these.
 */
export function topicsWithPrefix(prefix: string): { readonly [K in keyof typeof topics]: string } {
  return Object.fromEntries(Object.entries(topics).map(([key, topic]) => [key, `${prefix}${topic}`])) as {
    readonly [K in keyof typeof topics]: string;
  };
}
