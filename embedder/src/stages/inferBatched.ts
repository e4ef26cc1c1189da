import { embeddingBatchSize, embeddingLatency } from '@deeplens/platform/metrics';
import { createInferenceBatcher, type InferenceBatcher } from '../inferenceBatcher.ts';

export type InferBatchedOptions = {
  /** The model's batch inference (`model.embedDecoded`): one vector per decoded image, in order. */
  embed: (pixels: Buffer[]) => Promise<Float32Array[]>;
  batchSize: number;
  batchWindowMs: number;
};

/**
 * The infer stage: the images of every partition being consumed (and of successive slices)
 * share inference batches. An image takes a seat before it is fetched, so at most
 * 4 × `batchSize` images are fetched, decoded or waiting at once; each batch's latency and size
 * go to `deeplens_embedding_latency_seconds` and `deeplens_embedding_batch_size`.
 */
export function createInferStage(options: InferBatchedOptions): InferenceBatcher<Buffer, Float32Array> {
  return createInferenceBatcher<Buffer, Float32Array>({
    maxBatchSize: options.batchSize,
    // Enough images fetched and decoded ahead to fill the next batches while one runs.
    maxSeats: 4 * options.batchSize,
    maxWaitMs: options.batchWindowMs,
    run: async (pixels) => {
      const started = performance.now();
      const vectors = await options.embed(pixels);
      embeddingLatency.observe((performance.now() - started) / 1000);
      embeddingBatchSize.observe(pixels.length);
      return vectors;
    },
  });
}
