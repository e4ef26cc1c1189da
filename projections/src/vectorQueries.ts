import type { DatabasePool } from '@deeplens/platform/database';
import type { Logger } from '@deeplens/platform/logger';
import {
  vectorCollectionName,
  type VectorHit,
  type VectorIndex,
  type VectorSearchOptions,
} from '@deeplens/platform/vectorIndex';
import { activeGeneration } from './generations.ts';
import { selectedGeneration } from './generationScope.ts';
import { vectorProjectionName } from './vectorProjection.ts';

export type ModelRef = { modelId: string; modelVersion: string };

export type VectorQueriesOptions = {
  pool: DatabasePool;
  /** Opens a generation of the vector index for reading (embedded: a follower of its folder). */
  openIndex: (generation: number, mode: 'writer' | 'follower') => Promise<VectorIndex>;
  log?: Logger;
  /** How often the active generation is looked up (a rebuild's switch is seen within this). */
  pollIntervalMs?: number;
};

/**
 * Search for the read side, scoped to one tenant and model version by construction. Follows
 * the vector projection's ACTIVE generation: after a rebuild's switch the new generation is
 * opened, and only once it is open does it replace the old one, so searches keep answering
 * through the switch (the old generation is dropped only after the rebuild's grace period).
 * Inside `withGenerations` a selected snapshot generation is read instead (opened on first use
 * and kept open; the caller checked that it exists).
 */
export function createVectorQueries(options: VectorQueriesOptions) {
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  let current: { generation: number; index: VectorIndex } | undefined;
  let refreshing: Promise<void> | undefined;
  let closed = false;

  async function refreshOnce(): Promise<void> {
    const generation = await activeGeneration(options.pool, vectorProjectionName);
    if (generation === undefined || generation === current?.generation || closed) return;
    const index = await options.openIndex(generation, 'follower');
    const previous = current;
    current = { generation, index };
    options.log?.info('vector search follows a new generation', { generation });
    // Searches already running on the old index finish on it; give them a moment.
    if (previous) setTimeout(() => void previous.index.close(), pollIntervalMs).unref();
  }

  function refresh(): Promise<void> {
    refreshing ??= refreshOnce().finally(() => (refreshing = undefined));
    return refreshing;
  }

  const timer = setInterval(() => {
    refresh().catch((error: unknown) =>
      options.log?.warn('looking up the vector generation failed', { error }),
    );
  }, pollIntervalMs);
  timer.unref();

  const snapshots = new Map<number, Promise<VectorIndex>>();

  async function indexNow(): Promise<VectorIndex | undefined> {
    const selected = selectedGeneration(vectorProjectionName);
    if (selected !== undefined) {
      let opening = snapshots.get(selected);
      if (!opening) {
        opening = options.openIndex(selected, 'follower');
        snapshots.set(selected, opening);
        opening.catch(() => snapshots.delete(selected));
      }
      return opening;
    }
    if (!current) await refresh();
    return current?.index;
  }

  /** Runs a read; if it fails (e.g. a dropped Qdrant collection), looks up the generation again and retries once. */
  async function read<T>(empty: T, work: (index: VectorIndex) => Promise<T>): Promise<T> {
    const index = await indexNow();
    if (!index) return empty;
    try {
      return await work(index);
    } catch (error) {
      const selected = selectedGeneration(vectorProjectionName);
      if (selected !== undefined) {
        // A snapshot dropped meanwhile: open it afresh next time (and fail if it is gone).
        snapshots.delete(selected);
        throw error;
      }
      await refresh();
      if (!current || current.index === index) throw error;
      return work(current.index);
    }
  }

  return {
    /** The tenant's most similar images in one model version's collection. */
    search(
      tenantId: string,
      model: ModelRef,
      vector: Float32Array,
      search: VectorSearchOptions,
    ): Promise<VectorHit[]> {
      const collection = vectorCollectionName(tenantId, model.modelId, model.modelVersion);
      return read([], (index) => index.search(collection, vector, search));
    },

    /** An image's stored vector (unit length), to search by image id. */
    vectorOf(tenantId: string, model: ModelRef, imageId: string): Promise<Float32Array | undefined> {
      const collection = vectorCollectionName(tenantId, model.modelId, model.modelVersion);
      return read(undefined, async (index) => {
        const stored = (await index.get(collection, [imageId]))[0]?.vector;
        if (stored || !index.refresh) return stored;
        // The read model may say `indexed` a moment before this follower's timer reads the commit
        // that made it so: catch up now rather than answer 404 for an indexed image.
        index.refresh();
        return (await index.get(collection, [imageId]))[0]?.vector;
      });
    },

    /** Images similar to one of the tenant's images (itself excluded); undefined if it has no vector. */
    async similarTo(
      tenantId: string,
      model: ModelRef,
      imageId: string,
      search: VectorSearchOptions,
    ): Promise<VectorHit[] | undefined> {
      const vector = await this.vectorOf(tenantId, model, imageId);
      if (!vector) return undefined;
      const hits = await this.search(tenantId, model, vector, { ...search, k: search.k + 1 });
      return hits.filter((h) => h.id !== imageId).slice(0, search.k);
    },

    /** The generation searches read now (for health checks and tests). */
    get generation(): number | undefined {
      return current?.generation;
    },

    async close(): Promise<void> {
      closed = true;
      clearInterval(timer);
      await refreshing?.catch(() => undefined);
      await current?.index.close();
      for (const opening of snapshots.values()) await (await opening.catch(() => undefined))?.close();
    },
  };
}

export type VectorQueries = ReturnType<typeof createVectorQueries>;
