/**
 * The vector read model's port: named collections of points (id, vector, payload) searched
 * by cosine similarity. Adapters: an embedded HNSW index on local disk, and Qdrant. One
 * collection holds one tenant's vectors of one model version; callers build its name with
 * `vectorCollectionName`, so a search can only ever name one tenant.
 */

/** What a point carries besides its vector; filters match on it. */
export type VectorPayload = {
  tags: string[];
  attributes: Record<string, string>;
};

export type VectorPoint = {
  /** A UUID (the image id): Qdrant point ids must be UUIDs or integers. */
  id: string;
  vector: Float32Array;
  payload: VectorPayload;
};

/** Every listed tag must be present and every listed attribute must have that value. */
export type VectorFilter = {
  tags?: string[];
  attributes?: Record<string, string>;
};

export type VectorSearchOptions = {
  k: number;
  filter?: VectorFilter;
  /** The lowest cosine similarity a hit may have. */
  threshold?: number;
};

export type VectorHit = {
  id: string;
  /** Cosine similarity in [-1, 1]: 1 is the same direction. */
  score: number;
  payload: VectorPayload;
};

/**
 * What an index stores atomically with the changes of a commit: the projection's Kafka
 * checkpoints and whatever else its replay needs (tombstones). Small and JSON-serialisable.
 */
export type VectorIndexState = Readonly<Record<string, unknown>>;

export interface VectorIndex {
  /** Inserts or replaces points; creates the collection (with the vectors' dimension) if needed. */
  upsert(collection: string, points: readonly VectorPoint[]): Promise<void>;
  /** Replaces the payload of the points that exist; missing ids are ignored. */
  setPayload(collection: string, ids: readonly string[], payload: VectorPayload): Promise<void>;
  /** Deletes points by id; missing ids and a missing collection are ignored. */
  delete(collection: string, ids: readonly string[]): Promise<void>;
  /** Drops a collection and all its points; a missing one is ignored. */
  dropCollection(collection: string): Promise<void>;
  /** Collection names, optionally only those starting with `prefix`. */
  collections(prefix?: string): Promise<string[]>;
  /** The `k` most similar points, best first; an unknown collection answers no hits. */
  search(collection: string, vector: Float32Array, options: VectorSearchOptions): Promise<VectorHit[]>;
  /** The points with these ids that exist (vectors as stored: unit length for cosine). */
  get(collection: string, ids: readonly string[]): Promise<VectorPoint[]>;
  /** Every point id of a collection (for consistency checks and rebuild comparisons). */
  ids(collection: string): Promise<string[]>;
  count(collection: string): Promise<number>;
  /**
   * Makes every change since the last commit durable together with `state`: after a crash the
   * index is as of the last commit, and `committedState()` answers that commit's state.
   */
  commit(state: VectorIndexState): Promise<void>;
  committedState(): Promise<VectorIndexState | undefined>;
  /**
   * A read-only follower reads the commits that landed since it last looked (it also does so on
   * a timer); stores that answer from the server itself have nothing to catch up.
   */
  refresh?(): void;
  close(): Promise<void>;
}

/**
 * The collection of one tenant's vectors of one model version. Tenant ids are UUIDs; model
 * ids and versions are the manifest's (`mobilenet-v2-140-gap`, `1.0.0`).
 */
export function vectorCollectionName(tenantId: string, modelId: string, modelVersion: string): string {
  return `${tenantId}__${modelId}@${modelVersion}`;
}

/** The prefix every collection of a tenant starts with. */
export function tenantCollectionPrefix(tenantId: string): string {
  return `${tenantId}__`;
}

/** Cosine similarity of two vectors (not necessarily unit length); 0 when either is zero. */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** `vector` scaled to unit length (a zero vector stays zero). */
export function normalizeVector(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const x of vector) sum += x * x;
  const out = new Float32Array(vector.length);
  if (sum === 0) return out;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i]! * scale;
  return out;
}

/** Whether a payload passes a filter. */
export function matchesVectorFilter(payload: VectorPayload, filter: VectorFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.tags?.some((tag) => !payload.tags.includes(tag))) return false;
  if (filter.attributes) {
    for (const [key, value] of Object.entries(filter.attributes)) {
      if (payload.attributes[key] !== value) return false;
    }
  }
  return true;
}
