import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { extractLocalFeatures, LOCAL_FEATURE_SIZE } from './localFeatures.ts';
import { createLocalFeaturesWorker } from './localFeaturesWorker.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');

async function greyPhotos(n: number) {
  const names = (await readdir(photos))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, n);
  return Promise.all(
    names.map(async (name) => {
      const { data, info } = await sharp(await readFile(join(photos, name)))
        .resize(LOCAL_FEATURE_SIZE, LOCAL_FEATURE_SIZE, { fit: 'inside' })
        .greyscale()
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { data, width: info.width, height: info.height };
    }),
  );
}

describe('local features worker', () => {
  it('answers each of several concurrent requests with what extractLocalFeatures finds on this thread', async (t) => {
    const worker = createLocalFeaturesWorker();
    t.after(() => worker.close());
    const images = await greyPhotos(4);
    const inWorker = await Promise.all(images.map((g) => worker.extract(g.data, g.width, g.height)));
    for (const [i, g] of images.entries()) {
      const here = await extractLocalFeatures(g.data, g.width, g.height);
      assert.ok(here.length > 0);
      assert.ok(inWorker[i]!.equals(here), `image ${i}: the same features`);
    }
  });

  it('rejects a bad request with the reason, and the worker serves the next', async (t) => {
    const worker = createLocalFeaturesWorker();
    t.after(() => worker.close());
    await assert.rejects(worker.extract(Buffer.alloc(10), 4, 4), /needs 4 × 4 grey pixels/);
    const [g] = await greyPhotos(1);
    assert.ok((await worker.extract(g!.data, g!.width, g!.height)).length > 0);
  });

  it('fails the requests in flight when closed, and starts a new thread for the next', async () => {
    const worker = createLocalFeaturesWorker();
    const [g] = await greyPhotos(1);
    // Handled from the start: OpenCV.js, loaded in this process by the test above, aborts the
    // process on any unhandled rejection.
    const inFlight = assert.rejects(worker.extract(g!.data, g!.width, g!.height), /closed/);
    await worker.close();
    await inFlight;
    assert.ok((await worker.extract(g!.data, g!.width, g!.height)).length > 0);
    await worker.close();
  });
});
