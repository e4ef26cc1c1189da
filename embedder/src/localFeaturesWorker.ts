import { Worker } from 'node:worker_threads';
import type { LocalFeaturesReply, LocalFeaturesRequest } from './localFeaturesThread.ts';

const threadFile = new URL('./localFeaturesThread.ts', import.meta.url);

/**
 * `extractLocalFeatures` in a worker thread: OpenCV's WebAssembly costs the embedder more CPU
 * per image than the model itself, and on its main thread it held up decoding, batching and
 * recording (the embedder was bound by that one thread while inference ran on the others).
 * Requests queue in the thread; a dead worker fails the requests in flight (the caller
 * records the embedding without local features, as for any failure of theirs) and the next
 * request starts a new one. An idle worker does not keep the process alive.
 */
export function createLocalFeaturesWorker() {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (features: Buffer) => void; reject: (error: Error) => void }>();

  function failAll(error: Error): void {
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  }

  function start(): Worker {
    if (worker) return worker;
    // Under tsx (development, tests) the thread needs tsx's loader registered in its own thread.
    const started = threadFile.pathname.endsWith('.ts')
      ? new Worker(
          `import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(threadFile.href)});`,
          { eval: true },
        )
      : new Worker(threadFile);
    started.unref();
    started.on('message', (reply: LocalFeaturesReply) => {
      const waiting = pending.get(reply.id);
      if (!waiting) return;
      pending.delete(reply.id);
      if (pending.size === 0) started.unref();
      if ('error' in reply) waiting.reject(new Error(reply.error));
      else
        waiting.resolve(
          Buffer.from(reply.features.buffer, reply.features.byteOffset, reply.features.byteLength),
        );
    });
    const gone = (error: Error) => {
      if (worker !== started) return;
      worker = undefined;
      failAll(error);
    };
    started.on('error', (error) => gone(new Error('the local features worker failed', { cause: error })));
    started.on('exit', (code) => gone(new Error(`the local features worker exited (${code})`)));
    return (worker = started);
  }

  return {
    extract(grey: Uint8Array, width: number, height: number): Promise<Buffer> {
      const thread = start();
      const id = nextId++;
      return new Promise<Buffer>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        thread.ref();
        // A copy goes over (the caller's buffer may be a view of a larger pool).
        thread.postMessage({ id, grey: Uint8Array.from(grey), width, height } satisfies LocalFeaturesRequest);
      });
    },
    async close(): Promise<void> {
      const stopping = worker;
      worker = undefined;
      failAll(new Error('the local features worker is closed'));
      await stopping?.terminate();
    },
  };
}

export type LocalFeaturesWorker = ReturnType<typeof createLocalFeaturesWorker>;
