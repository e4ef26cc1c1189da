import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { openEmbeddedVectorIndex } from './embeddedVectorIndex.ts';
import { createQdrantVectorIndex, dropQdrantNamespace } from './qdrantVectorIndex.ts';
import { vectorIndexContract } from './vectorIndexContract.ts';

describe('VectorIndex contract: embedded HNSW (usearch)', () => {
  vectorIndexContract(async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'deeplens-vectors-'));
    // A small exact-scan limit, so the filter tests also walk the graph.
    const index = await openEmbeddedVectorIndex({ dir, exactScanLimit: 20 });
    t.after(async () => {
      await index.close();
      await rm(dir, { recursive: true, force: true });
    });
    return index;
  });
});

const qdrantUrl = process.env.QDRANT_URL;
describe(
  'VectorIndex contract: Qdrant',
  {
    skip: qdrantUrl
      ? false
      : 'QDRANT_URL is not set, so there is no Qdrant server to run the contract against',
  },
  () => {
    vectorIndexContract(async (t) => {
      const namespace = uniqueName('contract').replaceAll('-', '_');
      const options = { url: qdrantUrl!, apiKey: process.env.QDRANT_API_KEY, namespace };
      t.after(() => dropQdrantNamespace(options));
      return createQdrantVectorIndex(options);
    });
  },
);
