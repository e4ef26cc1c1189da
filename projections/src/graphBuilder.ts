import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { UnavailableError } from '@deeplens/platform/errors';
import type { HnswParameters } from './embeddedVectorIndex.ts';
import type { Calibration } from './graphCalibration.ts';

export type GraphBuildRequest =
  | {
      type: 'start';
      dim: number;
      hnsw: HnswParameters;
      threads: number;
      /** The previous graph's file, to add to; none for a graph built from scratch. */
      base: string | undefined;
      /** Labels to take out of `base` (points removed or replaced since it was built). */
      remove: BigUint64Array;
      /** How to choose the graph's search-time `ef` once built; none: not chosen. */
      calibration: Calibration | undefined;
    }
  | { type: 'add'; keys: BigUint64Array; vectors: Float32Array }
  | { type: 'end'; out: string };

export type GraphBuildReply =
  | { type: 'more' }
  | { type: 'built'; size: number; ef: number | undefined }
  | { type: 'failed'; message: string };

export type GraphBuildResult = {
  /** Vectors in the saved graph. */
  size: number;
  /** The calibrated search-time `ef` (`graphCalibration.ts`), when the job asked for one. */
  ef: number | undefined;
};

export type GraphBuildJob = {
  dim: number;
  hnsw: HnswParameters;
  base: string | undefined;
  remove: BigUint64Array;
  out: string;
  calibration?: Calibration;
  /** The next batch of unit vectors (rows of `dim`) and their labels; undefined when done. */
  next(): { keys: BigUint64Array; vectors: Float32Array } | undefined;
};

const workerFile = new URL(
  import.meta.url.endsWith('.ts') ? './graphBuildWorker.ts' : './graphBuildWorker.js',
  import.meta.url,
);

/**
 * Builds HNSW graphs (int8, cosine) in a worker thread, one job at a time, and saves each to a
 * file the caller then maps (`NativeIndex.view`). A worker is started for each job and ended
 * when the graph is saved (so its copy of the graph is freed at once); it does not keep the
 * process alive.
 */
export class GraphBuilder {
  #worker: Worker | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #threads: number;

  constructor(threads = availableParallelism()) {
    this.#threads = threads;
  }

  /** Runs `job` after the jobs before it; answers the saved graph's size and calibrated `ef`. */
  build(job: GraphBuildJob): Promise<GraphBuildResult> {
    const run = this.#queue.then(() => this.#run(job));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #start(): Worker {
    if (this.#closed) throw new UnavailableError('the graph builder is closed');
    if (this.#worker) return this.#worker;
    // Under tsx (development, tests) the worker needs tsx's loader registered in its own thread.
    const worker = workerFile.pathname.endsWith('.ts')
      ? new Worker(
          `import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(workerFile.href)});`,
          { eval: true },
        )
      : new Worker(workerFile);
    worker.unref();
    worker.on('error', () => {
      if (this.#worker === worker) this.#worker = undefined;
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
    });
    return (this.#worker = worker);
  }

  #run(job: GraphBuildJob): Promise<GraphBuildResult> {
    const worker = this.#start();
    // Held while a job runs, so that its outcome (even the worker's exit) is always delivered;
    // an idle worker does not keep the process alive.
    worker.ref();
    return new Promise<GraphBuildResult>((resolve, reject) => {
      const finish = (error: Error | undefined, result: GraphBuildResult = { size: 0, ef: undefined }) => {
        worker.unref();
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (error) reject(error);
        else resolve(result);
      };
      const onError = (error: Error) =>
        finish(new UnavailableError('the graph build worker failed', { cause: error }));
      const onExit = () => finish(new UnavailableError('the graph build worker stopped'));
      let ended = false;
      const onMessage = (reply: GraphBuildReply) => {
        try {
          if (reply.type === 'failed') finish(new UnavailableError(`graph build failed: ${reply.message}`));
          else if (reply.type === 'built') {
            // The worker's graph (as large as the mapped one: ~2 GiB at 1 M points) is native
            // memory its thread frees only when a GC happens to collect the binding's object, so
            // the thread is ended with its job: that frees it at once (the next job starts a new one).
            finish(undefined, { size: reply.size, ef: reply.ef });
            this.#retire(worker);
          } else if (!ended) {
            const batch = job.next();
            if (batch)
              this.#send(worker, { type: 'add', ...batch }, [
                batch.keys.buffer as ArrayBuffer,
                batch.vectors.buffer as ArrayBuffer,
              ]);
            else {
              ended = true;
              this.#send(worker, { type: 'end', out: job.out });
            }
          }
        } catch (error) {
          // The job's own `next` failed: the worker is left mid-job, so it is replaced.
          void worker.terminate();
          finish(error instanceof Error ? error : new Error(String(error)));
        }
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      this.#send(worker, {
        type: 'start',
        dim: job.dim,
        hnsw: job.hnsw,
        threads: this.#threads,
        base: job.base,
        remove: job.remove,
        calibration: job.calibration,
      });
    });
  }

  #retire(worker: Worker): void {
    if (this.#worker === worker) this.#worker = undefined;
    void worker.terminate();
  }

  #send(worker: Worker, message: GraphBuildRequest, transfer: ArrayBuffer[] = []): void {
    worker.postMessage(message, transfer);
  }
}
