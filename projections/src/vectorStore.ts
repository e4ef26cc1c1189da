import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { exactSearch, MetricKind } from 'usearch';

/** Slots per chunk of `RamVectors`: an exact scan runs one SIMD pass (`exactSearch`) per chunk. */
const chunkVectors = 4096;

/**
 * Unit vectors in RAM (f32), in chunks of contiguous slots: the points of a collection too small
 * for a graph, and a larger collection's points not yet in its graph. A freed slot is zeroed and
 * reused.
 */
export class RamVectors {
  readonly #dim: number;
  readonly #chunks: Float32Array[] = [];
  readonly #ids: (string | undefined)[] = [];
  readonly #free: number[] = [];

  constructor(dim: number) {
    this.#dim = dim;
  }

  /** How many vectors are held. */
  get count(): number {
    return this.#ids.length - this.#free.length;
  }

  /** Stores `id`'s vector in a slot and answers the slot. `write` fills the slot in place. */
  add(id: string, write: (slot: Float32Array) => void): number {
    const slot = this.#free.pop() ?? this.#ids.length;
    if (slot === this.#ids.length) this.#ids.push(id);
    else this.#ids[slot] = id;
    const chunk = Math.floor(slot / chunkVectors);
    const offset = slot % chunkVectors;
    let memory = this.#chunks[chunk];
    if (!memory || memory.length < (offset + 1) * this.#dim) {
      // The first chunk grows by doubling, so a small collection stays small; later ones are whole.
      const capacity = chunk === 0 ? Math.min(chunkVectors, Math.max(8, 2 * (offset + 1))) : chunkVectors;
      const grown = new Float32Array(capacity * this.#dim);
      if (memory) grown.set(memory);
      this.#chunks[chunk] = memory = grown;
    }
    write(memory.subarray(offset * this.#dim, (offset + 1) * this.#dim));
    return slot;
  }

  get(slot: number): Float32Array {
    const offset = (slot % chunkVectors) * this.#dim;
    return this.#chunks[Math.floor(slot / chunkVectors)]!.subarray(offset, offset + this.#dim);
  }

  free(slot: number): void {
    this.get(slot).fill(0);
    this.#ids[slot] = undefined;
    this.#free.push(slot);
    if (this.count === 0) {
      // Everything moved into the graph (or was removed): the memory goes back.
      this.#chunks.length = 0;
      this.#ids.length = 0;
      this.#free.length = 0;
    }
  }

  /**
   * The ids of (at least) the `k` vectors with the highest inner product with `query`, by an
   * exact SIMD scan (usearch `exactSearch`, one thread) of every chunk; the caller scores them.
   */
  scan(query: Float32Array, k: number): string[] {
    const out: string[] = [];
    // Zeroed free slots may rank above real vectors with a negative score: ask for that many more.
    const wanted = k + this.#free.length;
    for (let chunk = 0; chunk < this.#chunks.length; chunk++) {
      const used = Math.min(chunkVectors, this.#ids.length - chunk * chunkVectors);
      if (used <= 0) break;
      // `exactSearch` reads from the start of the array's buffer: each chunk owns its buffer.
      const dataset = this.#chunks[chunk]!.subarray(0, used * this.#dim);
      const found = exactSearch(dataset, query, this.#dim, Math.min(used, wanted), MetricKind.IP, 1);
      for (const key of found.keys) {
        const id = this.#ids[chunk * chunkVectors + Number(key)];
        if (id !== undefined) out.push(id);
      }
    }
    return out;
  }
}

/**
 * Unit vectors (f32) in a file, read one by one: the originals of the points in a collection's
 * graph, read only to re-score the graph's candidates. Not durable by itself (the index's log
 * and snapshots are): the file lives in the index's working folder and goes with it.
 */
export class DiskVectors {
  readonly #fd: number;
  readonly #bytes: number;
  readonly #free: number[] = [];
  #slots: number;

  /** `slots` vectors are already in the file (a snapshot's vectors, copied); `free` of them unused. */
  constructor(
    readonly path: string,
    dim: number,
    slots = 0,
    free: number[] = [],
  ) {
    this.#fd = openSync(path, slots > 0 ? 'r+' : 'w+');
    this.#bytes = dim * 4;
    this.#slots = slots;
    this.#free.push(...free);
  }

  write(vector: Float32Array): number {
    const slot = this.#free.pop() ?? this.#slots++;
    writeSync(
      this.#fd,
      new Uint8Array(vector.buffer, vector.byteOffset, this.#bytes),
      0,
      this.#bytes,
      slot * this.#bytes,
    );
    return slot;
  }

  read(slot: number, out: Float32Array): Float32Array {
    readSync(
      this.#fd,
      new Uint8Array(out.buffer, out.byteOffset, this.#bytes),
      0,
      this.#bytes,
      slot * this.#bytes,
    );
    return out;
  }

  free(slot: number): void {
    this.#free.push(slot);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/**
 * Unit vectors (f32) in a file written elsewhere (a snapshot's vector file), read one by one by
 * slot. The file may be unlinked meanwhile (the next snapshot removes the previous one): the
 * open descriptor keeps it readable until `close`.
 */
export class FrozenVectors {
  readonly #fd: number;
  readonly #bytes: number;

  constructor(path: string, dim: number) {
    this.#fd = openSync(path, 'r');
    this.#bytes = dim * 4;
  }

  read(slot: number, out: Float32Array): Float32Array {
    readSync(
      this.#fd,
      new Uint8Array(out.buffer, out.byteOffset, this.#bytes),
      0,
      this.#bytes,
      slot * this.#bytes,
    );
    return out;
  }

  close(): void {
    closeSync(this.#fd);
  }
}
