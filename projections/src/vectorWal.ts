import { closeSync, fdatasync, openSync, readSync, fstatSync, ftruncateSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import type { VectorIndexState, VectorPayload } from '@deeplens/platform/vectorIndex';

/**
 * The embedded index's write-ahead log: one frame per commit, holding the commit's operations
 * and the state (checkpoints) they bring the index to. A frame is `[u32 length][u32 crc32][body]`
 * with body `[u32 header length][header JSON][float32 vectors]`; a torn or corrupt tail (a crash
 * in the middle of an append) fails its length or checksum and is where the log ends.
 */
export type WalOperation =
  | { op: 'upsert'; collection: string; id: string; payload: VectorPayload; vector: Float32Array }
  | { op: 'setPayload'; collection: string; ids: string[]; payload: VectorPayload }
  | { op: 'delete'; collection: string; ids: string[] }
  | { op: 'drop'; collection: string };

export type WalFrame = { operations: WalOperation[]; state: VectorIndexState };

type HeaderOperation =
  | { op: 'upsert'; collection: string; id: string; payload: VectorPayload; dim: number }
  | Exclude<WalOperation, { op: 'upsert' }>;

export function encodeWalFrame(frame: WalFrame): Buffer {
  const builder = new WalFrameBuilder();
  for (const operation of frame.operations) builder.add(operation);
  return Buffer.concat(builder.encode(frame.state));
}

/** Bytes per chunk of a frame's vector part. */
const vectorChunkBytes = 4 * 2 ** 20;
/** Chunks kept for the next frame (one large batch's worth); more are let go after a commit. */
const keptVectorChunks = 16;

/**
 * The next frame, built as operations arrive: each upsert's vector is copied right away into
 * the frame's vector chunks (fixed-size buffers reused from frame to frame, so a frame never
 * copies what it already holds to grow, and a steady replay writes into memory already
 * touched), and `encode` answers the frame as parts to write one after the other, with the
 * checksum computed over them in turn.
 */
export class WalFrameBuilder {
  #operations: HeaderOperation[] = [];
  #chunks: Buffer[] = [];
  #vectorBytes = 0;

  get size(): number {
    return this.#operations.length;
  }

  /** Bytes of vectors in the frame so far: where the next upsert's vector starts in the vector part. */
  get vectorBytes(): number {
    return this.#vectorBytes;
  }

  /** Copies the frame's vector bytes from `offset` (in the vector part) into `out`. */
  readVector(offset: number, out: Float32Array): Float32Array {
    const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    for (let done = 0; done < bytes.length;) {
      const at = offset + done;
      const chunk = this.#chunks[Math.floor(at / vectorChunkBytes)]!;
      const from = at % vectorChunkBytes;
      const n = Math.min(bytes.length - done, vectorChunkBytes - from);
      bytes.set(chunk.subarray(from, from + n), done);
      done += n;
    }
    return out;
  }

  add(operation: WalOperation): void {
    if (operation.op !== 'upsert') {
      this.#operations.push(operation);
      return;
    }
    const { vector, ...rest } = operation;
    this.#operations.push({ ...rest, dim: vector.length });
    this.#appendVector(vector);
  }

  /** The frame's bytes: `[length][crc32]`, `[header length][header]`, the vectors. */
  encode(state: VectorIndexState): Buffer[] {
    const header = Buffer.from(JSON.stringify({ operations: this.#operations, state }));
    const headerPrefix = Buffer.alloc(4);
    headerPrefix.writeUInt32LE(header.length, 0);
    const vectors: Buffer[] = [];
    for (let at = 0, chunk = 0; at < this.#vectorBytes; at += vectorChunkBytes, chunk++) {
      vectors.push(this.#chunks[chunk]!.subarray(0, Math.min(vectorChunkBytes, this.#vectorBytes - at)));
    }
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32LE(4 + header.length + this.#vectorBytes, 0);
    let crc = 0;
    // Part by part; an empty part is skipped (zlib.crc32 answers 0 for some empty buffers).
    for (const part of [headerPrefix, header, ...vectors]) if (part.length > 0) crc = crc32(part, crc);
    prefix.writeUInt32LE(crc, 4);
    return [prefix, headerPrefix, header, ...vectors];
  }

  /** Starts the next frame, keeping (some of) the vector chunks for it. */
  clear(): void {
    this.#operations = [];
    this.#vectorBytes = 0;
    if (this.#chunks.length > keptVectorChunks) this.#chunks.length = keptVectorChunks;
  }

  #appendVector(vector: Float32Array): void {
    // Float32 in the machine's byte order, as `decodeBody` reads them back.
    const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
    let from = 0;
    while (from < bytes.length) {
      const chunk = Math.floor(this.#vectorBytes / vectorChunkBytes);
      const at = this.#vectorBytes % vectorChunkBytes;
      const target = (this.#chunks[chunk] ??= Buffer.allocUnsafe(vectorChunkBytes));
      const n = Math.min(bytes.length - from, vectorChunkBytes - at);
      target.set(from === 0 && n === bytes.length ? bytes : bytes.subarray(from, from + n), at);
      from += n;
      this.#vectorBytes += n;
    }
  }
}

function decodeBody(body: Buffer): WalFrame {
  const headerLength = body.readUInt32LE(0);
  const header = JSON.parse(body.subarray(4, 4 + headerLength).toString('utf8')) as {
    operations: HeaderOperation[];
    state: VectorIndexState;
  };
  let at = 4 + headerLength;
  const operations = header.operations.map((operation): WalOperation => {
    if (operation.op !== 'upsert') return operation;
    const vector = new Float32Array(operation.dim);
    Buffer.from(vector.buffer).set(body.subarray(at, at + operation.dim * 4));
    at += operation.dim * 4;
    const { dim: _dim, ...rest } = operation;
    return { ...rest, vector };
  });
  return { operations, state: header.state };
}

/**
 * Reads the complete frames of a log file from byte `from`. Answers the frames and the byte
 * offset after the last complete one; a torn tail is left unread.
 */
export function readWalFrames(path: string, from: number): { frames: WalFrame[]; end: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { frames: [], end: from };
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    const frames: WalFrame[] = [];
    let at = from;
    const prefix = Buffer.alloc(8);
    while (at + 8 <= size) {
      readSync(fd, prefix, 0, 8, at);
      const length = prefix.readUInt32LE(0);
      if (length < 4 || at + 8 + length > size) break;
      const body = Buffer.alloc(length);
      readSync(fd, body, 0, length, at + 8);
      if (crc32(body) !== prefix.readUInt32LE(4)) break;
      frames.push(decodeBody(body));
      at += 8 + length;
    }
    return { frames, end: at };
  } finally {
    closeSync(fd);
  }
}

const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);

/**
 * An append-only log file owned by one writer; each append is on disk when it resolves. The
 * write and the sync run off the event loop (libuv's pool), so other I/O — the projection's
 * status transaction — proceeds meanwhile. One append at a time.
 */
export class WalWriter {
  readonly #fd: number;
  #size: number;

  /** Opens `path` for appending, cutting off anything after `validEnd` (a torn tail). */
  constructor(path: string, validEnd: number) {
    this.#fd = openSync(path, 'a+');
    if (fstatSync(this.#fd).size > validEnd) ftruncateSync(this.#fd, validEnd);
    this.#size = validEnd;
  }

  get size(): number {
    return this.#size;
  }

  /** Reads `out.byteLength` bytes of the log from byte `position` (an appended frame's vector). */
  read(position: number, out: Float32Array): Float32Array {
    readSync(
      this.#fd,
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
      0,
      out.byteLength,
      position,
    );
    return out;
  }

  /** Appends one frame given as consecutive parts (`WalFrameBuilder.encode`), then syncs. */
  async append(parts: readonly Buffer[]): Promise<void> {
    let bytes = 0;
    try {
      for (const part of parts) {
        let written = 0;
        while (written < part.length) {
          written += (await writeAsync(this.#fd, part, written, part.length - written, null)).bytesWritten;
        }
        bytes += part.length;
      }
      await fdatasyncAsync(this.#fd);
    } catch (error) {
      // Cut a partly written frame off, so the next one follows the last complete frame.
      ftruncateSync(this.#fd, this.#size);
      throw error;
    }
    this.#size += bytes;
  }

  close(): void {
    closeSync(this.#fd);
  }
}
