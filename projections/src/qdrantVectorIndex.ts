import { QdrantClient } from '@qdrant/js-client-rest';
import type {
  VectorHit,
  VectorIndex,
  VectorIndexState,
  VectorPayload,
  VectorPoint,
  VectorSearchOptions,
} from '@deeplens/platform/vectorIndex';

export type QdrantVectorIndexOptions = {
  url: string;
  apiKey?: string;
  /**
   * Prefixes every physical collection, so generations of the vector projection (and tests)
   * never share one: `g3` stores `acme__model@1` as `g3__acme__model@1`.
   */
  namespace: string;
  /** Points per upsert request. */
  batchSize?: number;
};

type StoredPayload = {
  tags: string[];
  attributes: Record<string, string>;
  /** `key=value` of every attribute: one keyword index serves any attribute filter. */
  attribute_pairs: string[];
};

// A fixed point in the namespace's state collection holds the committed state.
const statePointId = '00000000-0000-4000-8000-000000000001';

/**
 * The Qdrant adapter: one Qdrant collection per DeepLens collection (cosine, with keyword
 * payload indexes on `tags` and `attribute_pairs`), point id = image id, so re-applying an
 * upsert or a delete is idempotent. Writes wait for Qdrant to apply them; `commit` then stores
 * the state in the namespace's `__state` collection. A crash between the two replays the
 * writes since the last commit, which (keyed by point id, in log order) ends in the same state.
 */
export function createQdrantVectorIndex(options: QdrantVectorIndexOptions): VectorIndex {
  const client = new QdrantClient({ url: options.url, apiKey: options.apiKey, checkCompatibility: false });
  const batchSize = options.batchSize ?? 256;
  const prefix = `${options.namespace}__`;
  const stateCollection = `${options.namespace}__state`;
  const known = new Map<string, Promise<void>>();
  const physical = (collection: string) => `${prefix}${collection}`;

  async function exists(name: string): Promise<boolean> {
    return (await client.collectionExists(name)).exists;
  }

  function ensure(name: string, dim: number): Promise<void> {
    let ready = known.get(name);
    if (!ready) {
      ready = (async () => {
        if (await exists(name)) return;
        try {
          await client.createCollection(name, { vectors: { size: dim, distance: 'Cosine' } });
        } catch (error) {
          if (!(await exists(name))) throw error; // else: created concurrently
        }
        for (const field of ['tags', 'attribute_pairs']) {
          await client.createPayloadIndex(name, { field_name: field, field_schema: 'keyword', wait: true });
        }
      })();
      ready.catch(() => known.delete(name));
      known.set(name, ready);
    }
    return ready;
  }

  function toStored(payload: VectorPayload): StoredPayload {
    return {
      tags: [...payload.tags],
      attributes: { ...payload.attributes },
      attribute_pairs: Object.entries(payload.attributes).map(([k, v]) => `${k}=${v}`),
    };
  }

  function fromStored(payload: unknown): VectorPayload {
    const p = (payload ?? {}) as Partial<StoredPayload>;
    return { tags: p.tags ?? [], attributes: p.attributes ?? {} };
  }

  function isNotFound(error: unknown): boolean {
    return (error as { status?: number }).status === 404;
  }

  return {
    async upsert(collection, points) {
      if (points.length === 0) return;
      const name = physical(collection);
      await ensure(name, points[0]!.vector.length);
      for (let i = 0; i < points.length; i += batchSize) {
        await client.upsert(name, {
          wait: true,
          points: points.slice(i, i + batchSize).map((p) => ({
            id: p.id,
            vector: Array.from(p.vector),
            payload: toStored(p.payload),
          })),
        });
      }
    },

    async setPayload(collection, ids, payload) {
      if (ids.length === 0) return;
      try {
        // By filter, so ids that are not (yet) in the collection are simply not matched.
        await client.overwritePayload(physical(collection), {
          wait: true,
          payload: toStored(payload),
          filter: { must: [{ has_id: [...ids] }] },
        });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },

    async delete(collection, ids) {
      if (ids.length === 0) return;
      try {
        await client.delete(physical(collection), { wait: true, points: [...ids] });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },

    async dropCollection(collection) {
      const name = physical(collection);
      known.delete(name);
      try {
        await client.deleteCollection(name);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },

    async collections(namePrefix = '') {
      const { collections } = await client.getCollections();
      return collections
        .map((c) => c.name)
        .filter((n) => n.startsWith(prefix) && n !== stateCollection)
        .map((n) => n.slice(prefix.length))
        .filter((n) => n.startsWith(namePrefix))
        .sort();
    },

    async search(
      collection: string,
      vector: Float32Array,
      search: VectorSearchOptions,
    ): Promise<VectorHit[]> {
      if (search.k <= 0) return [];
      const must: { key: string; match: { value: string } }[] = [];
      for (const tag of search.filter?.tags ?? []) must.push({ key: 'tags', match: { value: tag } });
      for (const [k, v] of Object.entries(search.filter?.attributes ?? {}))
        must.push({ key: 'attribute_pairs', match: { value: `${k}=${v}` } });
      try {
        const { points } = await client.query(physical(collection), {
          query: Array.from(vector),
          limit: search.k,
          filter: must.length > 0 ? { must } : undefined,
          score_threshold: search.threshold,
          with_payload: true,
          // Exact on small filtered sets is Qdrant's own choice (its filterable HNSW); ask for
          // enough candidates that a restrictive filter keeps its recall.
          params: { hnsw_ef: Math.max(128, search.k * 4) },
        });
        return points.map((p) => ({ id: String(p.id), score: p.score, payload: fromStored(p.payload) }));
      } catch (error) {
        if (isNotFound(error)) return [];
        throw error;
      }
    },

    async get(collection, ids) {
      if (ids.length === 0) return [];
      try {
        const points = await client.retrieve(physical(collection), {
          ids: [...ids],
          with_payload: true,
          with_vector: true,
        });
        return points.map((p): VectorPoint => ({
          id: String(p.id),
          vector: Float32Array.from(p.vector as number[]),
          payload: fromStored(p.payload),
        }));
      } catch (error) {
        if (isNotFound(error)) return [];
        throw error;
      }
    },

    async ids(collection) {
      const out: string[] = [];
      let offset: string | number | undefined | null = undefined;
      try {
        do {
          const page: Awaited<ReturnType<typeof client.scroll>> = await client.scroll(physical(collection), {
            limit: 1000,
            offset: offset ?? undefined,
            with_payload: false,
            with_vector: false,
          });
          for (const p of page.points) out.push(String(p.id));
          offset = page.next_page_offset as string | number | null | undefined;
        } while (offset !== null && offset !== undefined);
      } catch (error) {
        if (isNotFound(error)) return [];
        throw error;
      }
      return out.sort();
    },

    async count(collection) {
      try {
        return (await client.count(physical(collection), { exact: true })).count;
      } catch (error) {
        if (isNotFound(error)) return 0;
        throw error;
      }
    },

    async commit(state: VectorIndexState) {
      await ensure(stateCollection, 1);
      await client.upsert(stateCollection, {
        wait: true,
        points: [{ id: statePointId, vector: [1], payload: { state: JSON.stringify(state) } }],
      });
    },

    async committedState() {
      if (!(await exists(stateCollection))) return undefined;
      const [point] = await client.retrieve(stateCollection, { ids: [statePointId], with_payload: true });
      const raw = (point?.payload as { state?: string } | null | undefined)?.state;
      return raw === undefined ? undefined : (JSON.parse(raw) as VectorIndexState);
    },

    async close() {},
  };
}

/** Drops every collection of a namespace (an old generation, a test's). */
export async function dropQdrantNamespace(
  options: Pick<QdrantVectorIndexOptions, 'url' | 'apiKey' | 'namespace'>,
) {
  const client = new QdrantClient({ url: options.url, apiKey: options.apiKey, checkCompatibility: false });
  const { collections } = await client.getCollections();
  for (const { name } of collections) {
    if (name.startsWith(`${options.namespace}__`)) await client.deleteCollection(name);
  }
}
