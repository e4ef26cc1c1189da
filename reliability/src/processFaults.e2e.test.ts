import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import {
  deeplensEntryPoints,
  startDeepLens,
  type DeepLensProcessName,
} from '@deeplens/platform/testing/deeplensProcesses';
import { distinctImages, uploadAll } from './ingestClient.ts';
import { tenantWithKey, waitUntilAllIndexed } from './systemSetup.ts';

const soak = process.env.DEEPLENS_SOAK === '1';

describe('process faults: kill -9 of every DeepLens process in turn, mid-ingest', () => {
  it('loses nothing and duplicates nothing: every accepted image is indexed exactly once', async (t) => {
    // Supervised like an orchestrator would: a killed process is started again.
    const deeplens = await startDeepLens(t, { supervise: true, env: { LOG_LEVEL: 'warn' } });
    const { apiKey } = await tenantWithKey(deeplens, 'crashes');
    const count = Number(process.env.DEEPLENS_FAULT_IMAGES ?? (soak ? 3000 : 400));
    const images = await distinctImages(count);

    let done = false;
    const ingest = uploadAll(deeplens.writeUrl, apiKey, images, {
      concurrency: 4,
      paceMs: soak ? 0 : 40,
      deadlineMs: soak ? 1_800_000 : 420_000,
    }).finally(() => (done = true));
    const victims = Object.keys(deeplensEntryPoints) as DeepLensProcessName[];
    const kills: string[] = [];
    // Each process in turn, at a random moment, while uploads, embedding and projection run.
    for (let round = 0; !done || kills.length < victims.length; round++) {
      const victim = victims[round % victims.length]!;
      await sleep(1000 + Math.random() * 2500);
      await deeplens.stop(victim);
      kills.push(victim);
      if (kills.length >= victims.length * (soak ? 10 : 2)) break;
    }
    const outcome = await ingest;
    assert.equal(outcome.accepted.size, images.length, 'every image was accepted in the end');
    assert.equal(outcome.statuses.get(500) ?? 0, 0, `no 500: ${JSON.stringify([...outcome.statuses])}`);

    const listed = await waitUntilAllIndexed(
      deeplens.readUrl,
      apiKey,
      images.length,
      soak ? 1_800_000 : 300_000,
    );
    assert.equal(listed.length, images.length, 'no duplicate image');
    assert.deepEqual(
      new Set(listed.map((i) => i.id)),
      new Set(outcome.accepted.values()),
      'no client that got a 202 lost its image',
    );

    // Every image finds itself first: its vector is in the index once, under its own id.
    const sample = listed.slice(0, 20);
    for (const image of sample) {
      const response = await fetch(`${deeplens.readUrl}/v1/search`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ imageId: image.id, k: 5 }),
      });
      assert.equal(response.status, 200);
      const { hits } = (await response.json()) as { hits: { imageId: string }[] };
      assert.equal(new Set(hits.map((h) => h.imageId)).size, hits.length, 'no image twice in the index');
    }
    console.log(
      `process faults: ${kills.length} kill -9 (${kills.join(', ')}); ${outcome.attempts} requests for ${images.length} images; statuses ${JSON.stringify([...outcome.statuses])}`,
    );
  });
});
