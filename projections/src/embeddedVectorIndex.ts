import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Index, MetricKind, ScalarKind } from 'usearch';
import {
  normalizeVector,
  type VectorHit,
  type VectorIndex,
  type VectorIndexState,
  type VectorPayload,
  type VectorPoint,
  type VectorSearchOptions,
} from '@deeplens/platform/vectorIndex';
import { readWalFrames, WalFrameBuilder, WalWriter, type WalOperation } from './vectorWal.ts';

export type HnswParameters = {
  /** Graph degree (HNSW `M`). */
  connectivity: number;
  /** Candidate list size while inserting (HNSW `efConstruction`). */
  expansionAdd: number;
  /** Candidate list size while searching (HNSW `ef`). */
  expansionSearch: number;
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
  /** A filtered search scans the matching points exactly when there are at most this many. */
  exactScanLimit?: number;
};

// expansionAdd 64 (not 128) builds the graph ~2× faster; recall@10 stays 1.000 on clustered
// 1792-d vectors (`bench/search.ts`).
const defaultHnsw: HnswParameters = { connectivity: 16, expansionAdd: 64, expansionSearch: 128 };

type StoredPoint = { label: bigint; vector: Float32Array; payload: VectorPayload };

/** One collection in memory: the HNSW graph (usearch), the points by id and inverted payload indexes. */
class Collection {
  readonly index: Index;
  readonly points = new Map<string, StoredPoint>();
  readonly idByLabel = new Map<bigint, string>();
  readonly byTag = new Map<string, Set<string>>();
  readonly byAttribute = new Map<string, Set<string>>();
  nextLabel = 1n;
  /** Points stored but not yet in the graph. */
  readonly pending = new Set<string>();
  // Unit vectors live in chunks of up to `vectorsPerChunk` (one allocation per chunk, not per
  // point); a removed point's slot is reused.
  #chunk = new Float32Array(0);
  #chunkUsed = 0;
  readonly #freeSlots: Float32Array[] = [];

  constructor(
    readonly dim: number,
    hnsw: HnswParameters,
  ) {
    this.index = new Index({
      dimensions: dim,
      metric: MetricKind.Cos,
      // Half precision in the graph: 2.6× faster distances on AVX-512 FP16 and half the memory;
      // results are re-scored with the stored f32 vectors (`search`).
      quantization: ScalarKind.F16,
      connectivity: hnsw.connectivity,
      expansion_add: hnsw.expansionAdd,
      expansion_search: hnsw.expansionSearch,
      multi: false,
    });
  }

  upsert(id: string, vector: Float32Array, payload: VectorPayload): void {
    if (vector.length !== this.dim) {
      throw new Error(`a ${vector.length}-d vector does not fit a ${this.dim}-d collection`);
    }
    this.remove(id);
    // Labels are never reused: a replaced point gets a fresh one in the graph.
    const label = this.nextLabel++;
    this.points.set(id, { label, vector: normalizeInto(vector, this.#slot()), payload });
    this.idByLabel.set(label, id);
    this.indexPayload(id, payload);
    this.pending.add(id);
  }

  /**
   * Adds the points written since the last search to the HNSW graph, in one multi-threaded
   * batch. Graph building is deferred to the first search (or snapshot) that needs it: writes
   * stay cheap, a replay builds the graph in bulk, and collections that are never searched
   * (the projection's payload store) never build one.
   */
  flush(): void {
    if (this.pending.size === 0) return;
    const keys = new BigUint64Array(this.pending.size);
    const vectors = new Float32Array(this.pending.size * this.dim);
    let i = 0;
    for (const id of this.pending) {
      const point = this.points.get(id)!;
      keys[i] = point.label;
      vectors.set(point.vector, i * this.dim);
      i++;
    }
    this.index.add(keys, vectors, 0);
    this.pending.clear();
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
    if (!this.pending.delete(id)) this.index.remove(point.label);
    this.points.delete(id);
    this.#freeSlots.push(point.vector);
    this.idByLabel.delete(point.label);
    this.unindexPayload(id, point.payload);
  }

  #slot(): Float32Array {
    const free = this.#freeSlots.pop();
    if (free) return free;
    if (this.#chunkUsed * this.dim === this.#chunk.length) {
      // Chunks grow with the collection, so a small collection stays small.
      const size = Math.min(vectorsPerChunk, Math.max(8, this.points.size));
      this.#chunk = new Float32Array(size * this.dim);
      this.#chunkUsed = 0;
    }
    return this.#chunk.subarray(this.#chunkUsed * this.dim, ++this.#chunkUsed * this.dim);
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

const vectorsPerChunk = 256;

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
  collections: { name: string; file: string; dim: number; nextLabel: string }[];
};

/**
 * The embedded vector index: an HNSW graph per collection (usearch, cosine), persisted as a
 * snapshot plus a write-ahead log in `dir`. Each `commit` appends one fsync'd log frame with
 * the commit's operations and its state (the projection's checkpoints), so after a crash the
 * index is exactly as of its last commit — nothing lost, nothing applied twice. The log is
 * folded into a fresh snapshot (temp folder + rename, then the manifest by rename) as it grows.
 *
 * Filters keep full recall: when at most `exactScanLimit` points match, they are scanned
 * exactly; otherwise the graph is searched with a widened candidate list and the matches kept,
 * falling back to the exact scan if that found fewer than `k`.
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
  readonly #followIntervalMs: number;
  #collections = new Map<string, Collection>();
  #state: VectorIndexState | undefined;
  /** The uncommitted operations, as the next log frame. */
  #pending = new WalFrameBuilder();
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
    this.#exactScanLimit = options.exactScanLimit ?? 5_000;
    this.#followIntervalMs = options.followIntervalMs ?? 200;
  }

  open(): void {
    mkdirSync(this.#dir, { recursive: true });
    if (this.#writer) this.#lock();
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
      // The collection keeps its own normalised copy and the frame a copy of the bytes, so the
      // caller's vector is not held on to.
      const operation: WalOperation = {
        op: 'upsert',
        collection,
        id: point.id,
        payload: clonePayload(point.payload),
        vector: point.vector,
      };
      this.#apply(operation);
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
    // The inverted indexes cover tags and attributes, so `candidates` is the exact filtered set.
    const admits = (id: string) => (candidates ? candidates.has(id) : true);
    if (candidates && candidates.size <= this.#exactScanLimit)
      return this.#exact(c, query, candidates, options.k, threshold);

    c.flush();
    const matching = candidates?.size ?? c.points.size;
    // Widen the candidate list by how much of the collection the filter keeps (at least 2×).
    const fetch = Math.min(
      c.points.size,
      Math.ceil(options.k * Math.max(2, (2 * c.points.size) / Math.max(1, matching))),
    );
    const found = c.index.search(query, fetch, 1);
    // The graph holds half-precision vectors; the stored ones score its candidates exactly.
    const scored: { id: string; score: number }[] = [];
    let belowThreshold = false;
    for (const label of found.keys) {
      const id = c.idByLabel.get(label);
      if (id === undefined || !admits(id)) continue;
      const score = dot(c.points.get(id)!.vector, query);
      if (score >= threshold) scored.push({ id, score });
      else belowThreshold = true;
    }
    scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
    const hits: VectorHit[] = scored
      .slice(0, options.k)
      .map(({ id, score }) => ({ id, score, payload: clonePayload(c.points.get(id)!.payload) }));
    const reachable = Math.min(options.k, matching);
    if (hits.length < reachable && !belowThreshold) {
      // The graph walk missed matching points; the exact scan cannot.
      return this.#exact(c, query, candidates ?? new Set(c.points.keys()), options.k, threshold);
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
        out.push({ id, vector: Float32Array.from(point.vector), payload: clonePayload(point.payload) });
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
    await this.#wal!.append(this.#pending.encode(state));
    // Only once the frame is on disk: after a failed append the operations are still pending.
    this.#pending.clear();
    this.#state = state;
    if (this.#wal!.size >= this.#snapshotAfterBytes) this.#snapshot();
  }

  async committedState(): Promise<VectorIndexState | undefined> {
    return this.#state;
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
  }

  /** A follower reads the commits that landed since it last looked (also run on a timer). */
  refresh(): void {
    if (this.#writer || this.#closed) return;
    const manifest = this.#readManifest();
    const { frames, end } = readWalFrames(this.#walPath(this.#seq), this.#walOffset);
    for (const frame of frames) this.#applyFrame(frame.operations, frame.state);
    this.#walOffset = end;
    if (manifest.seq === this.#seq) {
      // A follower serves searches: build the graph now, between searches, not in one.
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
    this.#collections = new Map();
    this.#state = undefined;
    this.#load();
  }

  // --- internals --------------------------------------------------------------------------------

  #buildGraphs(): void {
    // One-dimensional collections (the vector projection's payload store) are never searched.
    for (const c of this.#collections.values()) if (c.dim > 1) c.flush();
  }

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

  #load(): void {
    const manifest = this.#readManifest();
    this.#seq = manifest.seq;
    if (manifest.snapshot) this.#loadSnapshot(this.#snapshotPath(manifest.seq));
    const { frames, end } = readWalFrames(this.#walPath(manifest.seq), 0);
    for (const frame of frames) this.#applyFrame(frame.operations, frame.state);
    this.#walOffset = end;
  }

  #applyFrame(operations: WalOperation[], state: VectorIndexState): void {
    for (const operation of operations) this.#apply(operation);
    this.#state = state;
  }

  #apply(operation: WalOperation): void {
    switch (operation.op) {
      case 'upsert': {
        let c = this.#collections.get(operation.collection);
        if (!c)
          this.#collections.set(
            operation.collection,
            (c = new Collection(operation.vector.length, this.#hnsw)),
          );
        c.upsert(operation.id, operation.vector, operation.payload);
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
        this.#collections.delete(operation.collection);
        return;
    }
  }

  #exact(c: Collection, query: Float32Array, ids: Set<string>, k: number, threshold: number): VectorHit[] {
    const scored: { id: string; score: number }[] = [];
    for (const id of ids) {
      const point = c.points.get(id);
      if (!point) continue;
      const score = dot(point.vector, query);
      if (score >= threshold) scored.push({ id, score });
    }
    scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
    return scored
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
      c.flush();
      const ids = [...c.points.keys()];
      const vectors = new Float32Array(ids.length * c.dim);
      const meta = ids.map((id, i) => {
        const point = c.points.get(id)!;
        vectors.set(point.vector, i * c.dim);
        return [id, point.label.toString(), point.payload] as const;
      });
      writeDurably(join(tmp, `${base}.json`), Buffer.from(JSON.stringify(meta)));
      writeDurably(join(tmp, `${base}.vectors`), Buffer.from(vectors.buffer));
      if (c.index.size() > 0) c.index.save(join(tmp, `${base}.usearch`));
      file.collections.push({ name, file: base, dim: c.dim, nextLabel: c.nextLabel.toString() });
    }
    writeDurably(join(tmp, 'snapshot.json'), Buffer.from(JSON.stringify(file)));
    rmSync(finalPath, { recursive: true, force: true });
    renameSync(tmp, finalPath);
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
      const c = new Collection(entry.dim, this.#hnsw);
      const meta = JSON.parse(readFileSync(join(path, `${entry.file}.json`), 'utf8')) as [
        string,
        string,
        VectorPayload,
      ][];
      const raw = readFileSync(join(path, `${entry.file}.vectors`));
      const vectors = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      if (existsSync(join(path, `${entry.file}.usearch`))) c.index.load(join(path, `${entry.file}.usearch`));
      meta.forEach(([id, label, payload], i) => {
        const point = {
          label: BigInt(label),
          vector: vectors.subarray(i * entry.dim, (i + 1) * entry.dim),
          payload,
        };
        c.points.set(id, point);
        c.idByLabel.set(point.label, id);
        for (const tag of payload.tags) addTo(c.byTag, tag, id);
        for (const [key, value] of Object.entries(payload.attributes))
          addTo(c.byAttribute, `${key}=${value}`, id);
      });
      c.nextLabel = BigInt(entry.nextLabel);
      this.#collections.set(entry.name, c);
    }
    this.#state = file.state ?? undefined;
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
