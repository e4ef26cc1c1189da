import { randomUUID } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  normalizeVector,
  type VectorHit,
  type VectorIndex,
  type VectorIndexState,
  type VectorPayload,
  type VectorPoint,
  type VectorSearchOptions,
} from '@deeplens/platform/vectorIndex';
import { GraphBuilder } from './graphBuilder.ts';
import { createGraphIndex, graphInput, type GraphQuantization, type NativeIndex } from './usearchNative.ts';
import { DiskVectors, FrozenVectors, RamVectors } from './vectorStore.ts';
import { readWalFrames, WalFrameBuilder, WalWriter, type WalOperation } from './vectorWal.ts';

export type HnswParameters = {
  /** Graph degree (HNSW `M`). */
  connectivity: number;
  /** Candidate list size while inserting (HNSW `efConstruction`). */
  expansionAdd: number;
  /**
   * Candidate list size while searching (HNSW `ef`): the first one tried when a graph's `ef` is
   * calibrated after each build (`graphCalibration.ts`), which may raise it for that graph.
   */
  expansionSearch: number;
  /** How many of a search's candidates (the graph's best first) are re-scored in f32. */
  rescore: number;
  /** The recall@10 a graph's calibrated `ef` reaches on a sample of its own points. */
  recallTarget: number;
  /** How the graph holds its vectors; the f32 originals re-score its candidates either way. */
  quantization: GraphQuantization;
};

export type EmbeddedVectorIndexOptions = {
  /** The index's own folder (one generation of the vector projection). */
  dir: string;
  /**
   * `writer` owns the folder (one process at a time) and makes commits durable; `follower`
   * opens the same folder read-only and picks up the writer's commits as they land.
   */
  mode?: 'writer' | 'follower';
  /** The log is folded into a new snapshot once it grows past this many bytes. */
  snapshotAfterBytes?: number;
  /** How often a follower looks for new commits. */
  followIntervalMs?: number;
  hnsw?: Partial<HnswParameters>;
  /**
   * A collection of at most this many points has no graph: every search scans it exactly
   * (recall 1). The default is measured (`bench/scaling.ts`): where a SIMD scan stops being
   * faster than the graph.
   */
  exactScanLimit?: number;
  /**
   * A filtered search scans exactly when its filter admits at most this many points (a graph
   * walk loses recall on selective filters); by default `exactScanLimit` when one is given, else
   * `defaultFilteredScanLimit`.
   */
  filteredScanLimit?: number;
  /** Threads a graph build uses (in its worker thread); default all cores. */
  buildThreads?: number;
  /**
   * A writer keeps no copy of the vectors it writes: a waiting vector (a point in no graph) is
   * read back where it already is — the frame being built, the log once committed, the latest
   * snapshot's vector file after a snapshot — by a search (one by one, as re-scoring does) or a
   * graph build. A projector replaying millions of vectors is not searched, so it touches no
   * memory for them. Loading a snapshot, a writer keeps at most this many bytes of waiting
   * vectors per collection in RAM, the rest in the instance's vector file. Default 1 GiB. A
   * follower keeps them all in RAM: it serves searches, and builds graphs as it catches up.
   */
  writerRamBytes?: number;
  /**
   * After a failed graph build (the worker crashed, ran out of memory, or failed to save), the
   * collection's next build waits this long, doubling with each failure in a row up to
   * `maxMs`; meanwhile its points are searched exactly. Default 1 s, at most 5 minutes.
   */
  buildRetry?: { initialMs: number; maxMs: number };
};

// M = 16, ef_add 128, ef from 128 (calibrated per graph to recall@10 ≥ 0.99 on a sample) over
// int8 vectors, the best 128 candidates re-scored in f32: recall@10, latency and the memory per
// vector are in `bench/scaling.ts`'s table (docs/benchmarks.md).
export const defaultHnsw: Readonly<HnswParameters> = {
  connectivity: 16,
  expansionAdd: 128,
  expansionSearch: 128,
  rescore: 128,
  recallTarget: 0.99,
  quantization: 'i8',
};

/** Sample queries per calibration: each costs one exhaustive walk of the graph in the worker. */
const calibrationQueries = 16;

/**
 * Where a SIMD scan of 1792-d f32 vectors (a read API's follower, which holds the points of no
 * graph in RAM) stops being faster than a search of the int8 graph, measured as Qdrant's
 * `full_scan_threshold` is (`bench/scaling.ts`, quiet 2-core machine, 2026-12-04): p50 1.31 ms
 * (scan) vs 2.20 ms (graph) at 2 000 vectors, 2.54 vs 2.35 ms at 4 000, 4.78 vs 2.84 ms at 8 000.
 */
export const defaultExactScanLimit = 4_000;

/**
 * The filtered searches scanned exactly by default: up to 10 000 admitted points, a scan that
 * costs at most a few milliseconds more than the graph and keeps recall 1 whatever the filter.
 */
export const defaultFilteredScanLimit = 10_000;

/**
 * Where a point's f32 vector is (exactly one is ≥ 0): a `ram` slot (unit length) or, in a
 * writer, where it was written (raw, normalised when read): at `frame` in the frame being
 * built, at `wal` in the log once committed, then in slot `frozen` of the latest snapshot's
 * vector file (unit length); once the graph holds the point, a `disk` slot (unit length).
 */
type StoredPoint = {
  label: bigint;
  payload: VectorPayload;
  ram: number;
  disk: number;
  frame: number;
  wal: number;
  frozen: number;
};

/** A writer's log, where its collections read the vectors they keep no copy of. */
type LogVectors = {
  /** Raw vector at `offset` of the frame being built. */
  readFrame(offset: number, out: Float32Array): Float32Array;
  /** Raw vector at byte `position` of the current log. */
  readWal(position: number, out: Float32Array): Float32Array;
};

/** A writer keeps vectors of at least this many dimensions in its log only (smaller ones in RAM). */
const logBackedMinDim = 8;

const storedPoint = (label: bigint, payload: VectorPayload): StoredPoint => ({
  label,
  payload,
  ram: -1,
  disk: -1,
  frame: -1,
  wal: -1,
  frozen: -1,
});

export type GraphBuildRetry = {
  /** Builds of the collection that failed in a row (0 after a build that landed). */
  failures: number;
  /** How long until the next build may start (0: whenever one is due). */
  waitMs: number;
};

export type GraphStatus = {
  /** Points in the searchable graph. */
  graphed: number;
  /** Points a build in flight is adding to the graph. */
  building: number;
  /** Points waiting for a build; searched exactly meanwhile. */
  pending: number;
};

/**
 * One collection in memory: the points by id, their vectors, the inverted payload indexes and,
 * once it outgrows the exact-scan limit, an HNSW graph (mapped from a file a worker built).
 * Points not yet in the graph keep their f32 vector in RAM and are scanned exactly by every
 * search; once in the graph, the original moves to a file and is read only to re-score.
 */
class Collection {
  readonly points = new Map<string, StoredPoint>();
  readonly idByLabel = new Map<bigint, string>();
  readonly byTag = new Map<string, Set<string>>();
  readonly byAttribute = new Map<string, Set<string>>();
  nextLabel = 1n;
  readonly ram: RamVectors;
  disk: DiskVectors | undefined;
  /** A writer's log (vectors kept only where they were written); undefined: vectors in RAM. */
  log: LogVectors | undefined;
  /** The latest snapshot's vector file, where the log's vectors are read once it was folded. */
  frozen: FrozenVectors | undefined;
  graph: NativeIndex | undefined;
  graphFile: string | undefined;
  /** Vectors in the graph's file, live or not. */
  graphSize = 0;
  /** Points stored but in no graph and in no build. */
  readonly pending = new Set<string>();
  /** Points in no graph (waiting, or in the build in flight) whose vector is in the file. */
  readonly spilled = new Set<string>();
  /** Waiting vectors past this many in RAM go to the file (writer only). */
  ramLimit = Infinity;
  /** Labels (and their ids) of the build in flight. */
  building: Map<bigint, string> | undefined;
  /** Labels in the graph (or in the build in flight) whose points were removed or replaced. */
  dead: bigint[] = [];
  /** The graph's calibrated search-time `ef` (none before the first calibrated build). */
  ef: number | undefined;
  /** Graph builds failed in a row, and when (epoch ms) the next may start. */
  buildFailures = 0;
  retryAt = 0;
  disposed = false;
  readonly scratch: Float32Array;

  constructor(
    readonly dim: number,
    readonly number: number,
    /** Where this instance keeps the collection's vector file. */
    readonly diskPath: string,
  ) {
    this.ram = new RamVectors(dim);
    this.scratch = new Float32Array(dim);
  }

  /** The collection's vector file, created on first use. */
  ensureDisk(): DiskVectors {
    return (this.disk ??= new DiskVectors(this.diskPath, this.dim));
  }

  get graphed(): number {
    return this.points.size - this.pending.size - (this.building?.size ?? 0);
  }

  /** `frame`: where the writer's frame holds the vector (then no copy is kept here). */
  upsert(id: string, vector: Float32Array, payload: VectorPayload, frame = -1): StoredPoint {
    if (vector.length !== this.dim) {
      throw new Error(`a ${vector.length}-d vector does not fit a ${this.dim}-d collection`);
    }
    this.remove(id);
    // Labels are never reused: a replaced point gets a fresh one in the graph.
    const point = storedPoint(this.nextLabel++, payload);
    if (this.log && frame >= 0) {
      point.frame = frame;
      this.spilled.add(id);
    } else if (this.ram.count >= this.ramLimit) {
      point.disk = this.ensureDisk().write(normalizeInto(vector, this.scratch));
      this.spilled.add(id);
    } else {
      point.ram = this.ram.add(id, (slot) => normalizeInto(vector, slot));
    }
    const { label } = point;
    this.points.set(id, point);
    this.idByLabel.set(label, id);
    this.indexPayload(id, payload);
    this.pending.add(id);
    return point;
  }

  setPayload(id: string, payload: VectorPayload): void {
    const point = this.points.get(id);
    if (!point) return;
    this.unindexPayload(id, point.payload);
    point.payload = payload;
    this.indexPayload(id, payload);
  }

  remove(id: string): void {
    const point = this.points.get(id);
    if (!point) return;
    if (point.ram >= 0) this.ram.free(point.ram);
    if (point.disk >= 0) this.disk!.free(point.disk);
    this.spilled.delete(id);
    if (!this.pending.delete(id)) {
      // In the graph, or about to be: taken out of it by the next build.
      this.dead.push(point.label);
      this.building?.delete(point.label);
    }
    this.points.delete(id);
    this.idByLabel.delete(point.label);
    this.unindexPayload(id, point.payload);
  }

  /** Whether the point is in the searchable graph (its vector in the file, and not spilled). */
  inGraph(id: string, point: StoredPoint): boolean {
    return point.disk >= 0 && !this.spilled.has(id);
  }

  /**
   * The ids of (at least) the k points in no graph most similar to `query`: an exact SIMD scan
   * of those in RAM, plus every spilled one (scored exactly by the caller).
   */
  scanUngraphed(query: Float32Array, k: number): string[] {
    const ids = this.ram.scan(query, k);
    for (const id of this.spilled) ids.push(id);
    return ids;
  }

  /** The point's unit vector: in RAM, or read into `out` from where it is. */
  vector(point: StoredPoint, out = this.scratch): Float32Array {
    if (point.ram >= 0) return this.ram.get(point.ram);
    if (point.disk >= 0) return this.disk!.read(point.disk, out);
    if (point.frozen >= 0) return this.frozen!.read(point.frozen, out);
    const raw = point.wal >= 0 ? this.log!.readWal(point.wal, out) : this.log!.readFrame(point.frame, out);
    return normalizeInto(raw, out);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.graph = undefined;
    this.frozen?.close();
    this.disk?.close();
    if (this.disk) rmSync(this.disk.path, { force: true });
    if (this.graphFile) rmSync(this.graphFile, { force: true });
  }

  private indexPayload(id: string, payload: VectorPayload): void {
    for (const tag of payload.tags) addTo(this.byTag, tag, id);
    for (const [key, value] of Object.entries(payload.attributes))
      addTo(this.byAttribute, `${key}=${value}`, id);
  }

  private unindexPayload(id: string, payload: VectorPayload): void {
    for (const tag of payload.tags) removeFrom(this.byTag, tag, id);
    for (const [key, value] of Object.entries(payload.attributes))
      removeFrom(this.byAttribute, `${key}=${value}`, id);
  }

  /** The ids a filter admits, from the smallest posting list; undefined means every point. */
  candidates(options: VectorSearchOptions): Set<string> | undefined {
    const lists: Set<string>[] = [];
    for (const tag of options.filter?.tags ?? []) lists.push(this.byTag.get(tag) ?? new Set());
    for (const [key, value] of Object.entries(options.filter?.attributes ?? {}))
      lists.push(this.byAttribute.get(`${key}=${value}`) ?? new Set());
    if (lists.length === 0) return undefined;
    lists.sort((a, b) => a.size - b.size);
    const [smallest, ...rest] = lists as [Set<string>, ...Set<string>[]];
    const out = new Set<string>();
    for (const id of smallest) if (rest.every((list) => list.has(id))) out.add(id);
    return out;
  }
}

/** Vectors per message to the graph builder: one batch of f32 rows held at a time. */
const buildBatch = 2048;

/**
 * `vector` scaled to unit length, written into `out`: the same arithmetic as `normalizeVector`
 * (a double sum of squares, then each component times 1/√sum), without allocating.
 */
function normalizeInto(vector: Float32Array, out: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  if (sum === 0) return out.fill(0);
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i]! * scale;
  return out;
}

function addTo(map: Map<string, Set<string>>, key: string, id: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(id);
}

function removeFrom(map: Map<string, Set<string>>, key: string, id: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(id);
  if (set.size === 0) map.delete(key);
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

type Manifest = { seq: number; snapshot: boolean };

type SnapshotFile = {
  state: VectorIndexState | null;
  /** `graph`: the collection's graph file is in the snapshot, holding the points marked in it. */
  collections: {
    name: string;
    file: string;
    dim: number;
    nextLabel: string;
    graph?: boolean;
    /** The graph's calibrated search-time `ef`. */
    ef?: number;
  }[];
};

/** A snapshot's point: id, label, payload and whether the snapshot's graph holds it. */
type SnapshotPoint = [string, string, VectorPayload, (0 | 1)?];

/**
 * The embedded vector index: per collection an exact SIMD scan while it is small and an HNSW
 * graph (usearch, cosine, int8 re-scored in f32) once it outgrows `exactScanLimit`, persisted
 * as a snapshot plus a write-ahead log in `dir`. Each `commit` appends one fsync'd log frame
 * with the commit's operations and its state (the projection's checkpoints), so after a crash
 * the index is exactly as of its last commit — nothing lost, nothing applied twice. The log is
 * folded into a fresh snapshot (temp folder + rename, then the manifest by rename) as it grows.
 *
 * Graphs are built in a worker thread (`GraphBuilder`), from the previous graph plus the points
 * written since, when a search needs one (and by a follower as it catches up); until a build
 * lands, searches use the previous graph plus an exact scan of the points not in it, so those
 * are always found. Filters keep full recall: when at most `filteredScanLimit` points match, they
 * are scanned exactly; otherwise the graph is searched with a widened candidate list and the
 * matches kept, falling back to the exact scan if that found fewer than `k`.
 */
export async function openEmbeddedVectorIndex(
  options: EmbeddedVectorIndexOptions,
): Promise<EmbeddedVectorIndex> {
  const index = new EmbeddedVectorIndex(options);
  index.open();
  return index;
}

export class EmbeddedVectorIndex implements VectorIndex {
  readonly #dir: string;
  readonly #writer: boolean;
  readonly #hnsw: HnswParameters;
  readonly #snapshotAfterBytes: number;
  readonly #exactScanLimit: number;
  readonly #filteredScanLimit: number;
  readonly #followIntervalMs: number;
  readonly #builder: GraphBuilder;
  readonly #buildRetry: { initialMs: number; maxMs: number };
  readonly #writerRamBytes: number;
  /** Set by `setExpansionSearch`: one `ef` for every graph instead of the calibrated ones. */
  #forcedEf: number | undefined;
  /** This instance's working folder: graph files and the vector files of graphed points. */
  readonly #work: string;
  #files = 0;
  #collectionNumber = 0;
  #collections = new Map<string, Collection>();
  readonly #builds = new Set<Promise<void>>();
  #state: VectorIndexState | undefined;
  /** The uncommitted operations, as the next log frame. */
  #pending = new WalFrameBuilder();
  /** Points whose vector is in `#pending` (until its frame is written). */
  #inFrame: [Collection, string, StoredPoint][] = [];
  /** Where a writer's collections read the vectors they keep no copy of. */
  readonly #logVectors: LogVectors = {
    readFrame: (offset, out) => this.#pending.readVector(offset, out),
    readWal: (position, out) => this.#wal!.read(position, out),
  };
  /** The commit being written: changes wait for it, as the frame holds the pending operations. */
  #committing: Promise<void> = Promise.resolve();
  #seq = 0;
  #walOffset = 0;
  #wal: WalWriter | undefined;
  #followTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: EmbeddedVectorIndexOptions) {
    this.#dir = options.dir;
    this.#writer = (options.mode ?? 'writer') === 'writer';
    this.#hnsw = { ...defaultHnsw, ...options.hnsw };
    this.#snapshotAfterBytes = options.snapshotAfterBytes ?? 512 * 2 ** 20;
    this.#exactScanLimit = options.exactScanLimit ?? defaultExactScanLimit;
    this.#filteredScanLimit = options.filteredScanLimit ?? options.exactScanLimit ?? defaultFilteredScanLimit;
    this.#followIntervalMs = options.followIntervalMs ?? 200;
    this.#builder = new GraphBuilder(options.buildThreads);
    this.#buildRetry = options.buildRetry ?? { initialMs: 1000, maxMs: 5 * 60_000 };
    this.#writerRamBytes = options.writerRamBytes ?? 2 ** 30;
    this.#work = join(this.#dir, `.work-${process.pid}-${randomUUID().slice(0, 8)}`);
  }

  open(): void {
    mkdirSync(this.#dir, { recursive: true });
    if (this.#writer) this.#lock();
    this.#removeAbandonedWork();
    mkdirSync(this.#work);
    this.#load();
    if (this.#writer) {
      this.#wal = new WalWriter(this.#walPath(this.#seq), this.#walOffset);
    } else {
      this.#buildGraphs();
      this.#followTimer = setInterval(() => this.refresh(), this.#followIntervalMs);
      this.#followTimer.unref();
    }
  }

  // --- VectorIndex ----------------------------------------------------------------------------

  async upsert(collection: string, points: readonly VectorPoint[]): Promise<void> {
    await this.#committing;
    this.#assertWriter();
    for (const point of points) {
      // The frame copies the bytes and the collection reads them there (a small vector: its own
      // normalised copy), so the caller's vector is not held on to.
      const operation: WalOperation = {
        op: 'upsert',
        collection,
        id: point.id,
        payload: clonePayload(point.payload),
        vector: point.vector,
      };
      this.#apply(operation, this.#pending.vectorBytes);
      this.#pending.add(operation);
    }
  }

  async setPayload(collection: string, ids: readonly string[], payload: VectorPayload): Promise<void> {
    await this.#committing;
    this.#assertWriter();
    const operation: WalOperation = {
      op: 'setPayload',
      collection,
      ids: [...ids],
      payload: clonePayload(payload),
    };
    this.#apply(operation);
    this.#pending.add(operation);
  }

  async delete(collection: string, ids: readonly string[]): Promise<void> {
    await this.#committing;
    this.#assertWriter();
    const operation: WalOperation = { op: 'delete', collection, ids: [...ids] };
    this.#apply(operation);
    this.#pending.add(operation);
  }

  async dropCollection(collection: string): Promise<void> {
    await this.#committing;
    this.#assertWriter();
    const operation: WalOperation = { op: 'drop', collection };
    this.#apply(operation);
    this.#pending.add(operation);
  }

  async collections(prefix = ''): Promise<string[]> {
    return [...this.#collections.keys()].filter((name) => name.startsWith(prefix)).sort();
  }

  async search(collection: string, vector: Float32Array, options: VectorSearchOptions): Promise<VectorHit[]> {
    const c = this.#collections.get(collection);
    if (!c || c.points.size === 0 || options.k <= 0) return [];
    if (vector.length !== c.dim)
      throw new Error(`a ${vector.length}-d query does not fit a ${c.dim}-d collection`);
    const query = normalizeVector(vector);
    const threshold = options.threshold ?? -Infinity;
    const candidates = c.candidates(options);
    if (candidates && candidates.size <= this.#filteredScanLimit)
      return this.#hits(c, this.#score(c, query, candidates), options.k, threshold);
    this.#maybeBuild(c);
    if (!c.graph) {
      // No graph yet (the collection is small, or its first graph is being built): every
      // vector is in RAM, scanned exactly.
      const ids = candidates ?? c.scanUngraphed(query, options.k);
      return this.#hits(c, this.#score(c, query, ids), options.k, threshold);
    }

    const admits = (id: string) => (candidates ? candidates.has(id) : true);
    const matching = candidates?.size ?? c.points.size;
    // The graph's calibrated ef, widened by how much of the collection the filter keeps (at
    // least 2×); the best `rescore` matching candidates are re-scored with the f32 originals.
    const widen = Math.max(2, (2 * c.points.size) / Math.max(1, matching));
    const fetch = Math.min(
      c.graphSize,
      Math.max(this.#forcedEf ?? c.ef ?? this.#hnsw.expansionSearch, Math.ceil(options.k * widen)),
    );
    const [keys, , counts] = c.graph.search(
      graphInput(query, c.dim, this.#hnsw.quantization),
      Math.max(1, fetch),
      1,
    );
    const scored: Scored[] = [];
    const found = Number(counts[0] ?? 0);
    const rescore = Math.max(this.#hnsw.rescore, options.k);
    for (let i = 0; i < found && scored.length < rescore; i++) {
      const id = c.idByLabel.get(keys[i]!);
      const point = id === undefined ? undefined : c.points.get(id);
      // A label of a removed or replaced point, or a point the filter keeps out.
      if (!point || point.label !== keys[i] || !c.inGraph(id!, point) || !admits(id!)) continue;
      scored.push({ id: id!, score: dot(c.vector(point), query) });
    }
    // The points not in the graph yet are in RAM: scanned exactly, so they are always found.
    const unGraphed = candidates
      ? [...c.pending, ...(c.building?.values() ?? [])].filter(admits)
      : c.scanUngraphed(query, options.k);
    scored.push(...this.#score(c, query, unGraphed));
    const hits = this.#hits(c, scored, options.k, threshold);
    const reachable = Math.min(options.k, matching);
    if (hits.length < reachable && !scored.some((s) => s.score < threshold)) {
      // The graph walk missed matching points; the exact scan cannot.
      return this.#hits(c, this.#score(c, query, candidates ?? c.points.keys()), options.k, threshold);
    }
    return hits;
  }

  async get(collection: string, ids: readonly string[]): Promise<VectorPoint[]> {
    const c = this.#collections.get(collection);
    if (!c) return [];
    const out: VectorPoint[] = [];
    for (const id of ids) {
      const point = c.points.get(id);
      if (point)
        out.push({ id, vector: Float32Array.from(c.vector(point)), payload: clonePayload(point.payload) });
    }
    return out;
  }

  async ids(collection: string): Promise<string[]> {
    return [...(this.#collections.get(collection)?.points.keys() ?? [])].sort();
  }

  async count(collection: string): Promise<number> {
    return this.#collections.get(collection)?.points.size ?? 0;
  }

  async commit(state: VectorIndexState): Promise<void> {
    this.#assertWriter();
    await this.#committing;
    const commit = this.#writeFrame(state);
    this.#committing = commit.catch(() => undefined);
    await commit;
  }

  async #writeFrame(state: VectorIndexState): Promise<void> {
    const parts = this.#pending.encode(state);
    const start = this.#wal!.size;
    await this.#wal!.append(parts);
    // Only once the frame is on disk: after a failed append the operations are still pending.
    // The frame's vectors follow its prefix, header length and header: the points written in
    // it read them in the log from now on.
    const vectors = start + parts[0]!.length + parts[1]!.length + parts[2]!.length;
    for (const [c, id, point] of this.#inFrame) {
      if (c.disposed || c.points.get(id) !== point || point.frame < 0) continue;
      point.wal = vectors + point.frame;
      point.frame = -1;
    }
    this.#inFrame = [];
    this.#pending.clear();
    this.#state = state;
    if (this.#wal!.size >= this.#snapshotAfterBytes) this.#snapshot();
  }

  async committedState(): Promise<VectorIndexState | undefined> {
    return this.#state;
  }

  /** How much of a collection its graph holds (for benchmarks, tests and operators). */
  graphStatus(collection: string): GraphStatus {
    const c = this.#collections.get(collection);
    return {
      graphed: c?.graph ? c.graphed : 0,
      building: c?.building?.size ?? 0,
      pending: c?.pending.size ?? 0,
    };
  }

  /**
   * One search-time candidate list (HNSW `ef`) for every graph, instead of each graph's
   * calibrated one: for measurements (`bench/scaling.ts --ef`).
   */
  setExpansionSearch(ef: number): void {
    if (!Number.isInteger(ef) || ef < 1) throw new RangeError(`ef must be a positive integer, got ${ef}`);
    this.#forcedEf = ef;
  }

  /** The search-time `ef` a collection's graph was calibrated to (undefined: no graph yet). */
  graphExpansion(collection: string): number | undefined {
    return this.#collections.get(collection)?.ef;
  }

  /** Whether the collection's graph builds are failing, and when the next may start. */
  graphBuildRetry(collection: string): GraphBuildRetry {
    const c = this.#collections.get(collection);
    return {
      failures: c?.buildFailures ?? 0,
      waitMs: c ? Math.max(0, c.retryAt - Date.now()) : 0,
    };
  }

  /**
   * Starts the graph builds searches would start, and resolves once no build is running: after
   * it, every collection over the exact-scan limit has a graph holding all its points (unless
   * points arrived meanwhile, or a build failed).
   */
  async settleGraphs(): Promise<void> {
    for (const c of this.#collections.values()) if (c.dim > 1) this.#maybeBuild(c, true);
    while (this.#builds.size > 0) await Promise.all(this.#builds);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#followTimer) clearInterval(this.#followTimer);
    if (this.#writer) {
      await this.#committing;
      // Uncommitted changes are dropped, as a crash would drop them.
      if (this.#wal!.size > 0) this.#snapshot();
      this.#wal!.close();
      rmSync(join(this.#dir, 'LOCK'), { force: true });
    }
    await this.#builder.close();
    await Promise.all(this.#builds);
    for (const c of this.#collections.values()) c.dispose();
    rmSync(this.#work, { recursive: true, force: true });
  }

  /** A follower reads the commits that landed since it last looked (also run on a timer). */
  refresh(): void {
    if (this.#writer || this.#closed) return;
    const manifest = this.#readManifest();
    const { frames, end } = readWalFrames(this.#walPath(this.#seq), this.#walOffset);
    for (const frame of frames) this.#applyFrame(frame.operations, frame.state);
    this.#walOffset = end;
    if (manifest.seq === this.#seq) {
      // A follower serves searches: graphs are built as it catches up, not by a search.
      this.#buildGraphs();
      return;
    }
    if (manifest.seq === this.#seq + 1 && existsSync(this.#walPath(manifest.seq))) {
      // The writer folds a log into the next snapshot only at a commit boundary, so the frames
      // just read are the whole old log: carry on with the next one.
      this.#seq = manifest.seq;
      this.#walOffset = 0;
      this.refresh();
      return;
    }
    for (const c of this.#collections.values()) c.dispose();
    this.#collections = new Map();
    this.#state = undefined;
    this.#load();
  }

  // --- graphs ---------------------------------------------------------------------------------

  #buildGraphs(): void {
    // One-dimensional collections (the vector projection's payload store) are never searched.
    for (const c of this.#collections.values()) if (c.dim > 1) this.#maybeBuild(c);
  }

  /**
   * Starts a build in the worker when the collection is over the exact-scan limit and enough
   * points wait: the first graph at once, later ones once the waiting points reach the limit or
   * 5% of the graph (until then an exact scan of them costs less than a build). `all` builds
   * whatever waits. After a failed build, none starts before the collection's back-off ends.
   */
  #maybeBuild(c: Collection, all = false): void {
    if (c.building || c.disposed || this.#closed || c.pending.size === 0) return;
    if (Date.now() < c.retryAt) return;
    if (!c.graph && c.points.size <= this.#exactScanLimit) return;
    if (c.graph && !all && c.pending.size < Math.max(this.#exactScanLimit, 0.05 * c.graphed)) return;
    // Many dead labels in the graph (removed points) cost recall: then a build starts afresh.
    const fresh = !c.graphFile || c.dead.length > 0.25 * c.graphSize;
    const labels: bigint[] = [];
    c.building = new Map();
    for (const id of c.pending) {
      const point = c.points.get(id)!;
      c.building.set(point.label, id);
      labels.push(point.label);
    }
    c.pending.clear();
    if (fresh) for (const [id, point] of c.points) if (c.inGraph(id, point)) labels.push(point.label);
    const dead = c.dead;
    c.dead = [];
    const out = join(this.#work, `graph-${c.number}-${this.#files++}.usearch`);
    let at = 0;
    const build = this.#builder
      .build({
        dim: c.dim,
        hnsw: this.#hnsw,
        base: fresh ? undefined : c.graphFile,
        remove: fresh ? new BigUint64Array(0) : BigUint64Array.from(dead),
        out,
        calibration: {
          queries: calibrationQueries,
          k: 10,
          target: this.#hnsw.recallTarget,
          from: this.#hnsw.expansionSearch,
          rescore: this.#hnsw.rescore,
        },
        // Vectors are copied a batch at a time, as the worker asks: a point removed meanwhile is
        // left out (its slot may already hold another point's vector).
        next: () => {
          if (at >= labels.length || c.disposed) return undefined;
          const keys: bigint[] = [];
          const vectors = new Float32Array(Math.min(buildBatch, labels.length - at) * c.dim);
          for (; at < labels.length && keys.length < buildBatch; at++) {
            const label = labels[at]!;
            const id = c.idByLabel.get(label);
            const point = id === undefined ? undefined : c.points.get(id);
            if (!point || point.label !== label) continue;
            vectors.set(c.vector(point), keys.length * c.dim);
            keys.push(label);
          }
          return { keys: BigUint64Array.from(keys), vectors: vectors.subarray(0, keys.length * c.dim) };
        },
      })
      .then(
        ({ size, ef }) => {
          c.buildFailures = 0;
          c.retryAt = 0;
          this.#switchGraph(c, out, size, ef);
        },
        () => {
          // The points wait for the next build, searched exactly meanwhile: nothing searched
          // was lost. A worker that keeps failing is not restarted in a loop: each failure in a
          // row doubles the wait before the next attempt.
          rmSync(out, { force: true });
          for (const id of c.building?.values() ?? []) c.pending.add(id);
          c.building = undefined;
          c.dead.push(...dead);
          const { initialMs, maxMs } = this.#buildRetry;
          c.retryAt = Date.now() + Math.min(maxMs, initialMs * 2 ** Math.min(30, c.buildFailures));
          c.buildFailures++;
        },
      )
      .finally(() => this.#builds.delete(build));
    this.#builds.add(build);
  }

  /** The build landed: searches use its graph; the points it holds keep their vector on disk. */
  #switchGraph(c: Collection, file: string, size: number, ef: number | undefined): void {
    const building = c.building ?? new Map<bigint, string>();
    c.building = undefined;
    if (c.disposed) {
      rmSync(file, { force: true });
      return;
    }
    const graph = createGraphIndex(c.dim, this.#hnsw);
    graph.view(file);
    if (c.graphFile) rmSync(c.graphFile, { force: true });
    c.graph = graph;
    c.graphFile = file;
    c.graphSize = size;
    c.ef = ef;
    const disk = c.ensureDisk();
    for (const [label, id] of building) {
      const point = c.points.get(id);
      if (!point || point.label !== label) continue;
      // A spilled point's vector is in the file already; one in the log goes there now.
      c.spilled.delete(id);
      if (point.disk >= 0) continue;
      point.disk = disk.write(c.vector(point));
      if (point.ram >= 0) c.ram.free(point.ram);
      point.ram = point.frame = point.wal = point.frozen = -1;
    }
  }

  // --- internals --------------------------------------------------------------------------------

  #assertWriter(): void {
    if (!this.#writer) throw new Error('this embedded vector index is a read-only follower');
    if (this.#closed) throw new Error('this embedded vector index is closed');
  }

  #walPath(seq: number): string {
    return join(this.#dir, `wal-${seq}.log`);
  }

  #snapshotPath(seq: number): string {
    return join(this.#dir, `snapshot-${seq}`);
  }

  #readManifest(): Manifest {
    try {
      return JSON.parse(readFileSync(join(this.#dir, 'MANIFEST.json'), 'utf8')) as Manifest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0, snapshot: false };
      throw error;
    }
  }

  #lock(): void {
    const path = join(this.#dir, 'LOCK');
    if (existsSync(path)) {
      const pid = Number(readFileSync(path, 'utf8'));
      if (pid !== process.pid && isAlive(pid)) {
        throw new Error(`${this.#dir} is owned by the running process ${pid}`);
      }
    }
    writeFileSync(path, String(process.pid));
  }

  /** Working folders of processes that died without closing their index. */
  #removeAbandonedWork(): void {
    for (const name of readdirSync(this.#dir)) {
      const pid = Number(/^\.work-(\d+)-/.exec(name)?.[1] ?? NaN);
      if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid))
        rmSync(join(this.#dir, name), { recursive: true, force: true });
    }
  }

  #load(): void {
    const manifest = this.#readManifest();
    this.#seq = manifest.seq;
    if (manifest.snapshot) this.#loadSnapshot(this.#snapshotPath(manifest.seq));
    const { frames, end } = readWalFrames(this.#walPath(manifest.seq), 0);
    for (const frame of frames) this.#applyFrame(frame.operations, frame.state);
    this.#walOffset = end;
  }

  #newCollection(dim: number): Collection {
    const number = this.#collectionNumber++;
    const c = new Collection(dim, number, join(this.#work, `vectors-${number}.f32`));
    if (this.#writer) {
      c.ramLimit = Math.max(1, Math.floor(this.#writerRamBytes / (dim * 4)));
      if (dim >= logBackedMinDim) c.log = this.#logVectors;
    }
    return c;
  }

  #applyFrame(operations: WalOperation[], state: VectorIndexState): void {
    for (const operation of operations) this.#apply(operation);
    this.#state = state;
  }

  /** `frame`: a writer's new upsert, whose vector the frame being built holds there. */
  #apply(operation: WalOperation, frame = -1): void {
    switch (operation.op) {
      case 'upsert': {
        let c = this.#collections.get(operation.collection);
        if (!c)
          this.#collections.set(operation.collection, (c = this.#newCollection(operation.vector.length)));
        const point = c.upsert(operation.id, operation.vector, operation.payload, frame);
        if (point.frame >= 0) this.#inFrame.push([c, operation.id, point]);
        return;
      }
      case 'setPayload': {
        const c = this.#collections.get(operation.collection);
        for (const id of operation.ids) c?.setPayload(id, operation.payload);
        return;
      }
      case 'delete': {
        const c = this.#collections.get(operation.collection);
        for (const id of operation.ids) c?.remove(id);
        return;
      }
      case 'drop':
        this.#collections.get(operation.collection)?.dispose();
        this.#collections.delete(operation.collection);
        return;
    }
  }

  /** Exact cosine scores of the given points (vectors in RAM, or read from the vector file). */
  #score(c: Collection, query: Float32Array, ids: Iterable<string>): Scored[] {
    const scored: Scored[] = [];
    for (const id of ids) {
      const point = c.points.get(id);
      if (point) scored.push({ id, score: dot(c.vector(point), query) });
    }
    return scored;
  }

  #hits(c: Collection, scored: Scored[], k: number, threshold: number): VectorHit[] {
    const seen = new Set<string>();
    return scored
      .filter((s) => s.score >= threshold && !seen.has(s.id) && seen.add(s.id))
      .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
      .slice(0, k)
      .map(({ id, score }) => ({ id, score, payload: clonePayload(c.points.get(id)!.payload) }));
  }

  /** Folds the log into snapshot seq+1 and starts log seq+1; the manifest's rename is the switch. */
  #snapshot(): void {
    const next = this.#seq + 1;
    const finalPath = this.#snapshotPath(next);
    const tmp = `${finalPath}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    const file: SnapshotFile = { state: this.#state ?? null, collections: [] };
    let n = 0;
    for (const [name, c] of this.#collections) {
      const base = `c${n++}`;
      // The graph goes along as it is (no build here): its points are marked, the rest wait.
      const graph = c.graphFile !== undefined;
      const meta: SnapshotPoint[] = [];
      const fd = openSync(join(tmp, `${base}.vectors`), 'w');
      try {
        const batch = Buffer.allocUnsafe(256 * c.dim * 4);
        const rows = new Float32Array(batch.buffer, batch.byteOffset, 256 * c.dim);
        let inBatch = 0;
        for (const [id, point] of c.points) {
          meta.push([id, point.label.toString(), point.payload, graph && c.inGraph(id, point) ? 1 : 0]);
          rows.set(c.vector(point), inBatch++ * c.dim);
          if (inBatch === 256) {
            writeSync(fd, batch);
            inBatch = 0;
          }
        }
        writeSync(fd, batch, 0, inBatch * c.dim * 4);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      writeDurably(join(tmp, `${base}.json`), Buffer.from(JSON.stringify(meta)));
      if (graph) linkOrCopy(c.graphFile!, join(tmp, `${base}.usearch`));
      file.collections.push({
        name,
        file: base,
        dim: c.dim,
        nextLabel: c.nextLabel.toString(),
        graph,
        ...(graph && c.ef !== undefined ? { ef: c.ef } : {}),
      });
    }
    writeDurably(join(tmp, 'snapshot.json'), Buffer.from(JSON.stringify(file)));
    rmSync(finalPath, { recursive: true, force: true });
    renameSync(tmp, finalPath);
    // The vectors read in the log (or the previous snapshot) are read in this snapshot now:
    // slot = the point's position in it. The file stays readable through its descriptor when
    // the next snapshot removes this one.
    for (const entry of file.collections) {
      const c = this.#collections.get(entry.name)!;
      if (!c.log) continue;
      let frozen: FrozenVectors | undefined;
      let i = 0;
      for (const point of c.points.values()) {
        if (point.frame >= 0 || point.wal >= 0 || point.frozen >= 0) {
          frozen ??= new FrozenVectors(join(finalPath, `${entry.file}.vectors`), c.dim);
          point.frozen = i;
          point.frame = point.wal = -1;
        }
        i++;
      }
      c.frozen?.close();
      c.frozen = frozen;
    }
    this.#wal!.close();
    this.#wal = new WalWriter(this.#walPath(next), 0);
    writeDurably(
      join(this.#dir, 'MANIFEST.json.tmp'),
      Buffer.from(JSON.stringify({ seq: next, snapshot: true })),
    );
    renameSync(join(this.#dir, 'MANIFEST.json.tmp'), join(this.#dir, 'MANIFEST.json'));
    fsyncDirectory(this.#dir);
    this.#seq = next;
    // Keep the previous log a while: a follower may still be reading its last frames.
    for (const name of readdirSync(this.#dir)) {
      const match = /^(?:wal-(\d+)\.log|snapshot-(\d+))$/.exec(name);
      const seq = Number(match?.[1] ?? match?.[2] ?? NaN);
      const keep = match?.[1] !== undefined ? seq >= next - 1 : seq >= next;
      if (match && !keep) rmSync(join(this.#dir, name), { recursive: true, force: true });
    }
  }

  #loadSnapshot(path: string): void {
    const file = JSON.parse(readFileSync(join(path, 'snapshot.json'), 'utf8')) as SnapshotFile;
    for (const entry of file.collections) {
      const c = this.#newCollection(entry.dim);
      const meta = JSON.parse(readFileSync(join(path, `${entry.file}.json`), 'utf8')) as SnapshotPoint[];
      const vectorsPath = join(path, `${entry.file}.vectors`);
      const graphed = entry.graph === true;
      // Which points keep their vector in the file: the graph's, and the waiting ones past a
      // writer's RAM limit (spilled); the others are read into RAM.
      let waiting = 0;
      const inFile = meta.map((m) => {
        if (graphed && m[3] === 1) return true;
        return waiting++ >= c.ramLimit;
      });
      if (inFile.some(Boolean)) {
        // Those keep their vectors in a copy of the snapshot's vector file (slot = position).
        copyFileSync(vectorsPath, c.diskPath, constants.COPYFILE_FICLONE);
        const free = inFile.flatMap((kept, i) => (kept ? [] : [i]));
        c.disk = new DiskVectors(c.diskPath, entry.dim, meta.length, free);
      }
      if (graphed) {
        // The snapshot's graph file is linked into the working folder and mapped.
        const graphFile = join(this.#work, `graph-${c.number}-${this.#files++}.usearch`);
        linkOrCopy(join(path, `${entry.file}.usearch`), graphFile);
        c.graph = createGraphIndex(entry.dim, this.#hnsw);
        c.graph.view(graphFile);
        c.graphFile = graphFile;
        c.graphSize = c.graph.size();
        c.ef = entry.ef;
      }
      const fd = openSync(vectorsPath, 'r');
      try {
        meta.forEach(([id, label, payload, inGraph], i) => {
          const point = storedPoint(BigInt(label), payload);
          if (graphed && inGraph === 1) point.disk = i;
          else if (inFile[i]) {
            point.disk = i;
            c.spilled.add(id);
            c.pending.add(id);
          } else {
            point.ram = c.ram.add(id, (slot) => {
              readSync(
                fd,
                new Uint8Array(slot.buffer, slot.byteOffset, slot.byteLength),
                0,
                slot.byteLength,
                i * slot.byteLength,
              );
            });
            c.pending.add(id);
          }
          c.points.set(id, point);
          c.idByLabel.set(point.label, id);
          for (const tag of payload.tags) addTo(c.byTag, tag, id);
          for (const [key, value] of Object.entries(payload.attributes))
            addTo(c.byAttribute, `${key}=${value}`, id);
        });
      } finally {
        closeSync(fd);
      }
      // Labels in the graph whose points are gone are unknown by now (label 0 is never used):
      // they count towards a fresh build, which drops them.
      if (c.graph && c.graphSize > c.graphed)
        c.dead.push(...new Array<bigint>(c.graphSize - c.graphed).fill(0n));
      c.nextLabel = BigInt(entry.nextLabel);
      this.#collections.set(entry.name, c);
    }
    this.#state = file.state ?? undefined;
  }
}

type Scored = { id: string; score: number };

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

function clonePayload(payload: VectorPayload): VectorPayload {
  return { tags: [...payload.tags], attributes: { ...payload.attributes } };
}

function writeDurably(path: string, bytes: Buffer): void {
  writeFileSync(path, bytes);
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
