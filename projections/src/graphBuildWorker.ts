/**
 * The worker thread that builds HNSW graphs for the embedded vector index (`GraphBuilder`), so
 * that neither the projector nor a read API stalls while one is built. One job at a time:
 * `start` (optionally from the previous graph's file, minus the removed labels), `add` batches
 * (answered with `more` each, so the sender holds only one batch at a time), `end` (the graph is
 * saved to the job's file and its search-time `ef` calibrated; the builder then ends this thread,
 * which frees the graph at once).
 */
import { parentPort } from 'node:worker_threads';
import { calibrateExpansion, type Calibration } from './graphCalibration.ts';
import { createGraphIndex, graphInput, type GraphQuantization, type NativeIndex } from './usearchNative.ts';
import type { GraphBuildReply, GraphBuildRequest } from './graphBuilder.ts';

let index: NativeIndex | undefined;
let dim = 0;
let threads = 1;
let quantization: GraphQuantization = 'i8';
let calibration: Calibration | undefined;
/** A uniform sample (reservoir) of the job's vectors, as the graph takes them: the queries. */
let sample: (Int8Array | Float32Array)[] = [];
let seen = 0;

/**
 * For the failure tests: `DEEPLENS_FAULT_GRAPH_WORKER=exit` ends this thread on a job's first
 * batch (as a fatal error would), `throw` raises an uncaught exception there (as a bug would).
 */
const fault = process.env.DEEPLENS_FAULT_GRAPH_WORKER;

function reply(message: GraphBuildReply): void {
  parentPort!.postMessage(message);
}

/** mulberry32 over the job's count: a reproducible reservoir. */
function random(seed: number): number {
  let t = (seed + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function keepSample(rows: Int8Array | Float32Array): void {
  const wanted = calibration?.queries ?? 0;
  for (let at = 0; at + dim <= rows.length; at += dim) {
    seen++;
    if (sample.length < wanted) sample.push(rows.slice(at, at + dim));
    else if (wanted > 0) {
      const slot = Math.floor(random(seen) * seen);
      if (slot < wanted) sample[slot] = rows.slice(at, at + dim);
    }
  }
}

parentPort!.on('message', (message: GraphBuildRequest) => {
  try {
    switch (message.type) {
      case 'start':
        dim = message.dim;
        threads = message.threads;
        quantization = message.hnsw.quantization;
        calibration = message.calibration;
        sample = [];
        seen = 0;
        index = createGraphIndex(dim, message.hnsw);
        if (message.base) index.load(message.base);
        if (message.remove.length > 0) index.remove(message.remove);
        reply({ type: 'more' });
        return;
      case 'add': {
        if (fault === 'exit') process.exit(70);
        if (fault === 'throw')
          queueMicrotask(() => {
            throw new Error('graph build worker: injected fault');
          });
        if (message.keys.length === 0) {
          reply({ type: 'more' });
          return;
        }
        const rows = graphInput(message.vectors, dim, quantization);
        index!.add(message.keys, rows, threads);
        keepSample(rows);
        reply({ type: 'more' });
        return;
      }
      case 'end': {
        index!.save(message.out);
        const size = index!.size();
        const ef = calibration ? calibrateExpansion(index!, sample, calibration, threads) : undefined;
        index = undefined;
        sample = [];
        reply({ type: 'built', size, ef });
        return;
      }
    }
  } catch (error) {
    index = undefined;
    reply({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
});
