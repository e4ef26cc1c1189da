/**
 * The worker thread of `localFeaturesWorker.ts`: finds an image's local features (OpenCV.js,
 * WebAssembly) off the embedder's main thread. One request at a time, answered by id.
 */
import { parentPort } from 'node:worker_threads';
import { extractLocalFeatures } from './localFeatures.ts';

export type LocalFeaturesRequest = { id: number; grey: Uint8Array; width: number; height: number };
export type LocalFeaturesReply = { id: number; features: Uint8Array } | { id: number; error: string };

const port = parentPort!;
port.on('message', (request: LocalFeaturesRequest) => {
  extractLocalFeatures(request.grey, request.width, request.height).then(
    (features) => port.postMessage({ id: request.id, features } satisfies LocalFeaturesReply),
    (error: unknown) =>
      port.postMessage({
        id: request.id,
        error: error instanceof Error ? error.message : String(error),
      } satisfies LocalFeaturesReply),
  );
});
