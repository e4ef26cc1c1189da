import type { Event } from './event.ts';

/**
 * An embedding space is retired after the installation moved to another
 * (docs/search-quality.md, "Moving a tenant to a new space"): the vector projection drops its
 * vectors and skips its `ImageEmbedded` events, also in a replay from offset 0; the read API
 * refuses to search it and the embedder to embed in it. A fact of the installation: no aggregate
 * folds it (`metadata.tenantId` is null, the aggregate id names the space), so write-model
 * recovery passes over it.
 */
export type EmbeddingSpaceRetired = Event<
  'EmbeddingSpaceRetired',
  {
    modelId: string;
    modelVersion: string;
    /** The space searched instead, `modelId@modelVersion`. */
    replacedBy: string;
  }
>;

export type EmbeddingSpaceEvent = EmbeddingSpaceRetired;

/** The event types no aggregate emits that travel on the domain topics (recovery passes over them). */
export const installationEventTypes: readonly EmbeddingSpaceEvent['type'][] = ['EmbeddingSpaceRetired'];
