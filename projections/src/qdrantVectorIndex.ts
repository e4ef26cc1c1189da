import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { deterministicUuid } from '@deeplens/platform/ids';
import {
  normalizeVector,
  type VectorFilter,
  type VectorHit,
  type VectorIndex,
  type VectorIndexState,
  type VectorPayload,
  type VectorPoint,
  type VectorSearchOptions,
} from '@deeplens/platform/vectorIndex';

export type QdrantVectorIndexOptions = {
  url: string;
  apiKey?: string;
  /**
   * Prefixes every physical collection, so generations of the vector projection (and tests)
   * never share one: in `g3`, the points of `acme__model@1` live in `g3__model@1`.
   */
  namespace: string;
  /** Points per request when a commit carries more (Qdrant's request body limit is 32 MiB). */
  batchSize?: number;
  /** Scalar (int8) quantization of stored vectors; searches re-score candidates with the originals. */
  quantization?: 'int8';
  /**
   * Given to the writer of the ACTIVE generation: each collection it creates gets the stable
   * alias `<alias>__<model>@<version>` (unless one exists), the name readers outside DeepLens use.
   * A rebuild's switch re-points every alias at once (`pointQdrantAliases`).
   */
  alias?: string;
  /**
   * Copies of each shard on a Qdrant cluster (`QDRANT_REPLICATION_FACTOR`, 2 on three nodes).
   * Above 1, collections are created with `write_consistency_factor` one below it (a write
   * lands while one copy's node is down), writes go with `medium` ordering (through a leader
   * that moves when its node dies — `strong` stays unavailable until it returns), reads ask any
   * one live replica (`consistency` 1: `majority` fails while a copy is down), and a request
   * failed by a dying node is retried (`qdrantRetryBudget`). 1, the default: one node, as before.
   */
  replicationFactor?: number;
  /** Shards of each new collection (`QDRANT_SHARDS`; at least the cluster's node count, to spread it). */
  shards?: number;
  /**
   * Other nodes of the same cluster (`QDRANT_FALLBACK_URLS`): a request that fails retriably is
   * retried on the next node, and later requests stay there — so the node in `url` may die too.
   */
  fallbackUrls?: readonly string[];
};

/** The retries of a request on a replicated Qdrant: server errors and refused connections, with back-off. */
export const qdrantRetryBudget = { attempts: 6, firstDelayMs: 250, maxDelayMs: 4000 } as const;

/** Whether a failed request may succeed on retry: a 5xx or no answer at all (not a 4xx). */
function isRetriable(error: unknown): boolean {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' ? status >= 500 : true;
}

/**
 * Runs `request`, again after a back-off while it fails retriably (writes are absolute, so
 * idempotent); `beforeRetry` may move the client to another node first.
 */
async function retrying<T>(request: () => Promise<T>, beforeRetry: () => void): Promise<T> {
  let delay: number = qdrantRetryBudget.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (attempt >= qdrantRetryBudget.attempts || !isRetriable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, qdrantRetryBudget.maxDelayMs);
      beforeRetry();
    }
  }
}

type StoredPayload = {
  /** The tenant part of the DeepLens collection name: the `is_tenant` index every search filters on. */
  tenant: string;
  /** The image id (the Qdrant point id is derived from tenant and id). */
  id: string;
  tags: string[];
  attributes: Record<string, string>;
  /** `key=value` of every attribute: one keyword index serves any attribute filter. */
  attribute_pairs: string[];
};

type QdrantPoint = { id: string; vector: number[]; payload: StoredPayload };

/** One physical collection's writes since the last flush, in order, and what reads see of them. */
type Pending = {
  dim?: number;
  operations: Schemas['UpdateOperation'][];
  /** Point uuid → its state after the pending writes: a point, or null when deleted. */
  points: Map<string, QdrantPoint | null>;
  /** Point uuid → the payload a pending `setPayload` gives it (the point itself not in `points`). */
  payloads: Map<string, { tenant: string; payload: VectorPayload }>;
  /** Tenants whose points a pending `dropCollection` deletes. */
  dropped: Set<string>;
};

// A fixed point in the namespace's state collection holds the committed state.
const statePointId = '00000000-0000-4000-8000-000000000001';
const payloadFields = ['tags', 'attribute_pairs'] as const;

/**
 * The Qdrant adapter. Tenants share a physical collection per model version (`<namespace>__<model>@<version>`,
 * `<namespace>__images`), each point tagged with its tenant under a keyword index marked
 * `is_tenant` (HNSW graphs per tenant, no global graph); every read filters on it, so a search
 * names exactly one tenant. Measured against a collection per tenant in `bench/qdrantTenancy.ts`
 * (docs/projections.md). Tags and attributes have keyword indexes; filters run inside Qdrant.
 *
 * Writes are buffered and sent at `commit` (or before a read that needs them): one batch
 * request per physical collection, `wait=true`, and only then the state point with the
 * checkpoints. Point ids are derived from tenant and image id and every write is absolute
 * (upsert, delete, set payload), so a crash between the two replays the writes since the last
 * commit, in log order, and ends where a clean build ends.
 */
export function createQdrantVectorIndex(options: QdrantVectorIndexOptions): VectorIndex {
  const clients = [options.url, ...(options.fallbackUrls ?? [])].map(
    (url) => new QdrantClient({ url, apiKey: options.apiKey, checkCompatibility: false }),
  );
  /** The node requests go to: the first, until one fails retriably and the next takes over. */
  let client = clients[0]!;
  const nextNode = () => {
    client = clients[(clients.indexOf(client) + 1) % clients.length]!;
  };
  const batchSize = options.batchSize ?? 512;
  const replicationFactor = options.replicationFactor ?? 1;
  const replicated = replicationFactor > 1;
  /** On one node every request goes once, as before; on a cluster within the retry budget. */
  const send = <T>(request: () => Promise<T>): Promise<T> =>
    replicated || clients.length > 1 ? retrying(request, nextNode) : request();
  const ordering = replicated ? 'medium' : 'strong';
  const readConsistency = replicated ? 1 : undefined;
  const layout = {
    ...(options.shards !== undefined && options.shards > 1 ? { shard_number: options.shards } : {}),
    ...(replicated
      ? { replication_factor: replicationFactor, write_consistency_factor: replicationFactor - 1 }
      : {}),
  };
  const prefix = `${options.namespace}__`;
  const stateCollection = `${options.namespace}__state`;
  const known = new Map<string, Promise<void>>();
  let pending = new Map<string, Pending>();

  function split(collection: string): { tenant: string; physical: string } {
    const at = collection.indexOf('__');
    return at < 0
      ? { tenant: '', physical: `${prefix}${collection}` }
      : { tenant: collection.slice(0, at), physical: `${prefix}${collection.slice(at + 2)}` };
  }
  const pointId = (tenant: string, id: string) => deterministicUuid('qdrant-point', tenant, id);

  async function exists(name: string): Promise<boolean> {
    return (await send(() => client.collectionExists(name))).exists;
  }

  function ensure(name: string, dim: number, tenantIndex = true): Promise<void> {
    let ready = known.get(name);
    if (!ready) {
      ready = (async () => {
        if (!(await exists(name))) {
          try {
            await client.createCollection(name, {
              vectors: { size: dim, distance: 'Cosine' },
              ...layout,
              // Graphs per tenant only: no search ever crosses tenants.
              hnsw_config: tenantIndex ? { payload_m: 16, m: 0 } : undefined,
              quantization_config:
                options.quantization === 'int8'
                  ? { scalar: { type: 'int8', quantile: 0.99, always_ram: true } }
                  : undefined,
            });
          } catch (error) {
            if (!(await exists(name))) throw error; // else: created concurrently
          }
        }
        if (!tenantIndex) return;
        // Also for a collection that exists: a crash may have come between creating it and
        // its payload indexes (creating an index that exists is a no-op).
        const { payload_schema: indexed } = await client.getCollection(name);
        if (!indexed.tenant)
          await client.createPayloadIndex(name, {
            field_name: 'tenant',
            field_schema: { type: 'keyword', is_tenant: true },
            wait: true,
          });
        for (const field of payloadFields)
          if (!indexed[field])
            await client.createPayloadIndex(name, { field_name: field, field_schema: 'keyword', wait: true });
        if (options.alias !== undefined) {
          const alias = `${options.alias}__${name.slice(prefix.length)}`;
          const { aliases } = await client.getAliases();
          if (!aliases.some((a) => a.alias_name === alias))
            await client.updateCollectionAliases({
              actions: [{ create_alias: { collection_name: name, alias_name: alias } }],
            });
        }
      })();
      ready.catch(() => known.delete(name));
      known.set(name, ready);
    }
    return ready;
  }

  function pendingOf(physical: string): Pending {
    let p = pending.get(physical);
    if (!p) {
      p = { operations: [], points: new Map(), payloads: new Map(), dropped: new Set() };
      pending.set(physical, p);
    }
    return p;
  }

  function toStored(tenant: string, id: string, payload: VectorPayload): StoredPayload {
    return { tenant, id, ...payloadFieldsOf(payload) };
  }

  function payloadFieldsOf(payload: VectorPayload): Omit<StoredPayload, 'tenant' | 'id'> {
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

  const tenantIs = (tenant: string) => ({ key: 'tenant', match: { value: tenant } });

  /** Sends every pending write: one batch request per physical collection, applied before it answers. */
  async function flush(): Promise<void> {
    if (pending.size === 0) return;
    const sending = pending;
    pending = new Map();
    try {
      await Promise.all(
        [...sending].map(async ([physical, p]) => {
          if (p.dim !== undefined) await ensure(physical, p.dim);
          else if (!(await exists(physical))) return; // deletes in a collection that never was
          for (const operations of chunks(p.operations)) {
            await send(() => client.batchUpdate(physical, { wait: true, ordering, operations }));
          }
        }),
      );
    } catch (error) {
      // Nothing is lost: the writes go again, in order, ahead of any made since.
      for (const [physical, p] of pending) {
        const earlier = sending.get(physical);
        if (!earlier) sending.set(physical, p);
        else sending.set(physical, merge(earlier, p));
      }
      pending = sending;
      throw error;
    }
  }

  function merge(earlier: Pending, later: Pending): Pending {
    return {
      dim: earlier.dim ?? later.dim,
      operations: [...earlier.operations, ...later.operations],
      points: new Map([...earlier.points, ...later.points]),
      payloads: new Map([...earlier.payloads, ...later.payloads]),
      dropped: new Set([...earlier.dropped, ...later.dropped]),
    };
  }

  /** Operations in requests of about `batchSize` points at most (consecutive upserts were coalesced). */
  function* chunks(operations: Schemas['UpdateOperation'][]): Generator<Schemas['UpdateOperation'][]> {
    let out: Schemas['UpdateOperation'][] = [];
    let size = 0;
    const parts = operations.flatMap((operation) => {
      if (!('upsert' in operation && 'points' in operation.upsert)) return [operation];
      const { points } = operation.upsert;
      const split: Schemas['UpdateOperation'][] = [];
      for (let i = 0; i < points.length; i += batchSize)
        split.push({ upsert: { points: points.slice(i, i + batchSize) } });
      return split;
    });
    for (const part of parts) {
      const weight = 'upsert' in part && 'points' in part.upsert ? part.upsert.points.length : 1;
      if (size + weight > batchSize && out.length > 0) {
        yield out;
        out = [];
        size = 0;
      }
      out.push(part);
      size += weight;
    }
    if (out.length > 0) yield out;
  }

  function filterOf(tenant: string, filter: VectorFilter | undefined): Schemas['Filter'] {
    const must: Schemas['FieldCondition'][] = [tenantIs(tenant)];
    for (const tag of filter?.tags ?? []) must.push({ key: 'tags', match: { value: tag } });
    for (const [k, v] of Object.entries(filter?.attributes ?? {}))
      must.push({ key: 'attribute_pairs', match: { value: `${k}=${v}` } });
    return { must };
  }

  async function physicalCollections(): Promise<string[]> {
    const { collections } = await client.getCollections();
    return collections
      .map((c) => c.name)
      .filter((n) => n.startsWith(prefix) && n !== stateCollection)
      .sort();
  }

  async function tenantCount(physical: string, tenant: string): Promise<number> {
    try {
      return (await send(() => client.count(physical, { exact: true, filter: { must: [tenantIs(tenant)] } })))
        .count;
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw error;
    }
  }

  return {
    async upsert(collection, points) {
      if (points.length === 0) return;
      const { tenant, physical } = split(collection);
      const p = pendingOf(physical);
      p.dim ??= points[0]!.vector.length;
      const stored = points.map((point): QdrantPoint => ({
        id: pointId(tenant, point.id),
        // Unit length here, so what reads see before the flush is what Qdrant stores.
        vector: Array.from(normalizeVector(point.vector)),
        payload: toStored(tenant, point.id, point.payload),
      }));
      for (const point of stored) {
        p.points.set(point.id, point);
        p.payloads.delete(point.id);
      }
      const last = p.operations.at(-1);
      if (last && 'upsert' in last && 'points' in last.upsert) last.upsert.points.push(...stored);
      else p.operations.push({ upsert: { points: stored } });
    },

    async setPayload(collection, ids, payload) {
      if (ids.length === 0) return;
      const { tenant, physical } = split(collection);
      const p = pendingOf(physical);
      const uuids = ids.map((id) => pointId(tenant, id));
      // By filter, so ids that are not (yet) in the collection are simply not matched.
      p.operations.push({
        set_payload: { payload: payloadFieldsOf(payload), filter: { must: [{ has_id: uuids }] } },
      });
      uuids.forEach((uuid, i) => {
        const point = p.points.get(uuid);
        if (point) p.points.set(uuid, { ...point, payload: toStored(tenant, ids[i]!, payload) });
        else if (point === undefined) p.payloads.set(uuid, { tenant, payload });
      });
    },

    async delete(collection, ids) {
      if (ids.length === 0) return;
      const { tenant, physical } = split(collection);
      const p = pendingOf(physical);
      const uuids = ids.map((id) => pointId(tenant, id));
      p.operations.push({ delete: { points: uuids } });
      for (const uuid of uuids) {
        p.points.set(uuid, null);
        p.payloads.delete(uuid);
      }
    },

    async dropCollection(collection) {
      const { tenant, physical } = split(collection);
      const p = pendingOf(physical);
      p.operations.push({ delete: { filter: { must: [tenantIs(tenant)] } } });
      for (const [uuid, point] of p.points) if (point?.payload.tenant === tenant) p.points.set(uuid, null);
      for (const [uuid, override] of p.payloads) if (override.tenant === tenant) p.payloads.delete(uuid);
      p.dropped.add(tenant);
    },

    async collections(namePrefix = '') {
      await flush();
      const out: string[] = [];
      const at = namePrefix.indexOf('__');
      for (const physical of await physicalCollections()) {
        const group = physical.slice(prefix.length);
        if (at >= 0) {
          // One tenant's collections: a count per model version.
          const tenant: string = namePrefix.slice(0, at);
          const name: string = `${tenant}__${group}`;
          if (name.startsWith(namePrefix) && (await tenantCount(physical, tenant)) > 0) out.push(name);
          continue;
        }
        const { hits } = await send(() =>
          client.facet(physical, {
            key: 'tenant',
            limit: 1_000_000,
            exact: true,
            consistency: readConsistency,
          }),
        );
        // An exact facet still lists a tenant whose points were all deleted, with count 0.
        for (const hit of hits.filter((h) => h.count > 0)) {
          const name = `${String(hit.value)}__${group}`;
          if (name.startsWith(namePrefix)) out.push(name);
        }
      }
      return out.sort();
    },

    async search(
      collection: string,
      vector: Float32Array,
      search: VectorSearchOptions,
    ): Promise<VectorHit[]> {
      if (search.k <= 0) return [];
      await flush();
      const { tenant, physical } = split(collection);
      try {
        const { points } = await send(() =>
          client.query(physical, {
            consistency: readConsistency,
            query: Array.from(vector),
            limit: search.k,
            filter: filterOf(tenant, search.filter),
            score_threshold: search.threshold,
            with_payload: true,
            // Ask for enough candidates that a restrictive filter keeps its recall; quantized
            // candidates are re-scored with the original vectors.
            params: {
              hnsw_ef: Math.max(128, search.k * 4),
              quantization: options.quantization ? { rescore: true, oversampling: 2 } : undefined,
            },
          }),
        );
        return points.map((p) => ({
          id: (p.payload as Partial<StoredPayload> | null | undefined)?.id ?? String(p.id),
          score: p.score,
          payload: fromStored(p.payload),
        }));
      } catch (error) {
        if (isNotFound(error)) return [];
        throw error;
      }
    },

    async get(collection, ids) {
      if (ids.length === 0) return [];
      const { tenant, physical } = split(collection);
      const p = pending.get(physical);
      const out = new Map<string, VectorPoint>();
      const missing: string[] = [];
      for (const id of ids) {
        const uuid = pointId(tenant, id);
        const local = p?.points.get(uuid);
        if (local === null) continue;
        if (local)
          out.set(id, { id, vector: Float32Array.from(local.vector), payload: fromStored(local.payload) });
        else if (!p?.dropped.has(tenant)) missing.push(uuid);
      }
      if (missing.length > 0) {
        try {
          const points = await send(() =>
            client.retrieve(physical, {
              ids: missing,
              with_payload: true,
              with_vector: true,
              consistency: readConsistency,
            }),
          );
          for (const point of points) {
            const stored = point.payload as unknown as StoredPayload;
            const override = p?.payloads.get(String(point.id));
            out.set(stored.id, {
              id: stored.id,
              vector: Float32Array.from(point.vector as number[]),
              payload: override ? structuredClone(override.payload) : fromStored(stored),
            });
          }
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
      return ids.flatMap((id) => {
        const point = out.get(id);
        return point ? [point] : [];
      });
    },

    async ids(collection) {
      await flush();
      const { tenant, physical } = split(collection);
      const out: string[] = [];
      let offset: Schemas['ExtendedPointId'] | null | undefined = undefined;
      try {
        do {
          const page: Awaited<ReturnType<typeof client.scroll>> = await send(() =>
            client.scroll(physical, {
              limit: 1000,
              offset: offset ?? undefined,
              filter: { must: [tenantIs(tenant)] },
              with_payload: ['id'],
              with_vector: false,
              consistency: readConsistency,
            }),
          );
          for (const p of page.points) out.push((p.payload as { id: string }).id);
          offset = page.next_page_offset as Schemas['ExtendedPointId'] | null | undefined;
        } while (offset !== null && offset !== undefined);
      } catch (error) {
        if (isNotFound(error)) return [];
        throw error;
      }
      return out.sort();
    },

    async count(collection) {
      await flush();
      const { tenant, physical } = split(collection);
      return tenantCount(physical, tenant);
    },

    async commit(state: VectorIndexState) {
      // The points first, applied (`wait`): the checkpoint never runs ahead of them.
      await flush();
      await ensure(stateCollection, 1, false);
      await send(() =>
        client.upsert(stateCollection, {
          wait: true,
          ordering,
          points: [{ id: statePointId, vector: [1], payload: { state: JSON.stringify(state) } }],
        }),
      );
    },

    async committedState() {
      if (!(await exists(stateCollection))) return undefined;
      const [point] = await send(() =>
        client.retrieve(stateCollection, {
          ids: [statePointId],
          with_payload: true,
          consistency: readConsistency,
        }),
      );
      const raw = (point?.payload as { state?: string } | null | undefined)?.state;
      return raw === undefined ? undefined : (JSON.parse(raw) as VectorIndexState);
    },

    async close() {
      // Writes never committed are dropped, as the embedded index drops them: a reopened
      // index is as of the last commit.
      pending = new Map();
    },
  };
}

/** Drops every collection of a namespace (an old generation, a test's). */
export async function dropQdrantNamespace(
  options: Pick<QdrantVectorIndexOptions, 'url' | 'apiKey' | 'namespace'>,
) {
  await dropQdrantCollections(options, `${options.namespace}__`);
}

/** Drops every collection whose name starts with `prefix` (e.g. every generation of a test's namespace). */
export async function dropQdrantCollections(
  options: Pick<QdrantVectorIndexOptions, 'url' | 'apiKey'>,
  prefix: string,
) {
  const client = new QdrantClient({ url: options.url, apiKey: options.apiKey, checkCompatibility: false });
  const { collections } = await client.getCollections();
  for (const { name } of collections) {
    if (name.startsWith(prefix)) await client.deleteCollection(name);
  }
}

/**
 * Points the stable aliases `<alias>__<model>@<version>` (and `<alias>__images`) at the
 * collections of `namespace` — a generation — in ONE alias request, which Qdrant applies
 * atomically: a reader of an alias sees the old generation or the new one, never a mix or a
 * gap. Aliases of collections the generation lacks are removed. Idempotent.
 */
export async function pointQdrantAliases(
  options: Pick<QdrantVectorIndexOptions, 'url' | 'apiKey' | 'namespace'> & { alias: string },
): Promise<void> {
  const client = new QdrantClient({ url: options.url, apiKey: options.apiKey, checkCompatibility: false });
  const from = `${options.namespace}__`;
  const to = `${options.alias}__`;
  const { collections } = await client.getCollections();
  const groups = collections
    .map((c) => c.name)
    .filter((n) => n.startsWith(from) && n !== `${from}state`)
    .map((n) => n.slice(from.length));
  const { aliases } = await client.getAliases();
  const current = new Map(
    aliases.filter((a) => a.alias_name.startsWith(to)).map((a) => [a.alias_name, a.collection_name]),
  );
  const actions: Schemas['AliasOperations'][] = [];
  for (const [alias] of current)
    if (!groups.includes(alias.slice(to.length))) actions.push({ delete_alias: { alias_name: alias } });
  for (const group of groups)
    if (current.get(`${to}${group}`) !== `${from}${group}`)
      actions.push({ create_alias: { alias_name: `${to}${group}`, collection_name: `${from}${group}` } });
  if (actions.length > 0) await client.updateCollectionAliases({ actions });
}

/** The stable aliases under `alias` and the collection each names (`<alias>__model@1` → `<alias>_g3__model@1`). */
export async function qdrantAliases(
  options: Pick<QdrantVectorIndexOptions, 'url' | 'apiKey'> & { alias: string },
): Promise<Map<string, string>> {
  const client = new QdrantClient({ url: options.url, apiKey: options.apiKey, checkCompatibility: false });
  const { aliases } = await client.getAliases();
  return new Map(
    aliases
      .filter((a) => a.alias_name.startsWith(`${options.alias}__`))
      .map((a) => [a.alias_name, a.collection_name]),
  );
}
