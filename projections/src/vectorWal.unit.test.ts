import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { encodeWalFrame, readWalFrames, WalFrameBuilder, WalWriter, type WalFrame } from './vectorWal.ts';

const frames: WalFrame[] = [
  { operations: [], state: { checkpoints: { 't:0': 1 } } },
  {
    operations: [
      {
        op: 'upsert',
        collection: 'c',
        id: 'a',
        payload: { tags: ['x'], attributes: {} },
        vector: Float32Array.of(1, 2),
      },
      { op: 'delete', collection: 'c', ids: ['b'] },
      {
        op: 'upsert',
        collection: 'd',
        id: 'a',
        payload: { tags: [], attributes: { k: 'v' } },
        vector: Float32Array.of(3),
      },
    ],
    state: { checkpoints: { 't:0': 2 } },
  },
];

describe('vector index write-ahead log', () => {
  it('writes frames that read back, one with no operations included', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'deeplens-wal-frames-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'wal-0.log');
    const writer = new WalWriter(path, 0);
    const builder = new WalFrameBuilder();
    for (const frame of frames) {
      for (const operation of frame.operations) builder.add(operation);
      await writer.append(builder.encode(frame.state));
      builder.clear();
    }
    writer.close();
    const { frames: read, end } = readWalFrames(path, 0);
    assert.deepEqual(read, frames);
    assert.equal(end, writer.size);
  });

  it('checksums the whole body, as one frame built at once', () => {
    for (const frame of frames) {
      const bytes = encodeWalFrame(frame);
      assert.equal(bytes.readUInt32LE(0), bytes.length - 8);
      assert.equal(bytes.readUInt32LE(4), crc32(bytes.subarray(8)));
    }
  });

  it('carries frames whose vectors span several reused chunks, a vector split across two', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'deeplens-wal-chunks-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'wal-0.log');
    const writer = new WalWriter(path, 0);
    const builder = new WalFrameBuilder();
    // 1 001 floats per vector: 4 MiB chunks never hold a whole number of them.
    const frameOf = (seed: number, count: number): WalFrame => ({
      operations: Array.from({ length: count }, (_, i) => ({
        op: 'upsert' as const,
        collection: 'c',
        id: `v${i}`,
        payload: { tags: [], attributes: {} },
        vector: Float32Array.from({ length: 1001 }, (_, j) => seed + i * 1001 + j),
      })),
      state: { checkpoints: { 't:0': seed } },
    });
    // A large frame, then a smaller one written into the same (reused) chunks, then a large one.
    const written = [frameOf(1, 2500), frameOf(2, 30), frameOf(3, 1200)];
    for (const frame of written) {
      for (const operation of frame.operations) builder.add(operation);
      const parts = builder.encode(frame.state);
      assert.ok(frame.operations.length < 1200 || parts.length > 4, 'the vectors take several chunks');
      await writer.append(parts);
      builder.clear();
    }
    writer.close();
    const { frames: read, end } = readWalFrames(path, 0);
    assert.deepEqual(read, written);
    assert.equal(end, writer.size);
  });
});
