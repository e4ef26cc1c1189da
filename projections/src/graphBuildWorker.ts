/**
 * The worker thread that builds HNSW graphs for the embedded vector index (`GraphBuilder`), so
 * that neither the projector nor a read API stalls while one is built. One job at a time:
 * `start` (optionally from the previous graph's file, minus the removed labels), `add` batches
 * (answered with `more` each, so the sender holds only one batch at a time), `end` (the graph is
 * saved to the job's file and the worker lets go of it).
 */
import { parentPort } from 'node:worker_threads';
import { createGraphIndex, graphInput, type GraphQuantization, type NativeIndex } from './usearchNative.ts';
import type { GraphBuildReply, GraphBuildRequest } from './graphBuilder.ts';

let index: NativeIndex | undefined;
let dim = 0;
let threads = 1;
let quantization: GraphQuantization = 'i8';

/**
 * For the failure tests: `DEEPLENS_FAULT_GRAPH_WORKER=exit` ends this thread on a job's first
 * batch (as a fatal error would), `throw` raises an uncaught exception there (as a bug would).
 */
const fault = process.env.DEEPLENS_FAULT_GRAPH_WORKER;

function reply(message: GraphBuildReply): void {
  parentPort!.postMessage(message);
}

parentPort!.on('message', (message: GraphBuildRequest) => {
  try {
    switch (message.type) {
      case 'start':
        dim = message.dim;
        threads = message.threads;
        quantization = message.hnsw.quantization;
        index = createGraphIndex(dim, message.hnsw);
        if (message.base) index.load(message.base);
        if (message.remove.length > 0) index.remove(message.remove);
        reply({ type: 'more' });
        return;
      case 'add':
        if (fault === 'exit') process.exit(70);
        if (fault === 'throw')
          queueMicrotask(() => {
            throw new Error('graph build worker: injected fault');
          });
        if (message.keys.length > 0)
          index!.add(message.keys, graphInput(message.vectors, dim, quantization), threads);
        reply({ type: 'more' });
        return;
      case 'end': {
        index!.save(message.out);
        const size = index!.size();
        index = undefined;
        reply({ type: 'built', size });
        return;
      }
    }
  } catch (error) {
    index = undefined;
    reply({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
});
