import { closeSync, fdatasyncSync, openSync, readSync, fstatSync, ftruncateSync, writeSync } from 'node:fs';
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
  const vectors: Float32Array[] = [];
  const operations: HeaderOperation[] = frame.operations.map((operation) => {
    if (operation.op !== 'upsert') return operation;
    vectors.push(operation.vector);
    const { vector, ...rest } = operation;
    return { ...rest, dim: vector.length };
  });
  const header = Buffer.from(JSON.stringify({ operations, state: frame.state }));
  const floats = vectors.reduce((n, v) => n + v.length, 0);
  const body = Buffer.alloc(4 + header.length + floats * 4);
  body.writeUInt32LE(header.length, 0);
  header.copy(body, 4);
  let at = 4 + header.length;
  for (const vector of vectors) {
    Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(body, at);
    at += vector.byteLength;
  }
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(body.length, 0);
  prefix.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([prefix, body]);
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

/** An append-only log file owned by one writer; each append is on disk when it returns. */
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

  append(frame: WalFrame): void {
    const bytes = encodeWalFrame(frame);
    let written = 0;
    while (written < bytes.length) written += writeSync(this.#fd, bytes, written);
    fdatasyncSync(this.#fd);
    this.#size += bytes.length;
  }

  close(): void {
    closeSync(this.#fd);
  }
}
