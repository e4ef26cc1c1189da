import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { startDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { startPrivateStack } from '@deeplens/platform/testing/privateStack';
import { distinctImages, uploadAll } from './ingestClient.ts';
import { tenantWithKey, waitUntilAllIndexed } from './systemSetup.ts';

describe('service faults mid-ingest (a private stack: Kafka, PostgreSQL and S3 stopped and restarted)', () => {
  it('answers 503 (never 500, never a hang) while a dependency is down, and every accepted image arrives once', async (t) => {
    const stack = await startPrivateStack(t);
    const deeplens = await startDeepLens(t, {
      stackEnv: stack.env,
      supervise: true,
      env: { OBJECT_STORE: 's3', LOG_LEVEL: 'warn' },
    });
    const { apiKey } = await tenantWithKey(deeplens, 'faults');
    const images = await distinctImages(Number(process.env.DEEPLENS_FAULT_IMAGES ?? 200));

    let accepted = 0;
    const ingest = uploadAll(deeplens.writeUrl, apiKey, images, {
      concurrency: 2,
      paceMs: 400,
      deadlineMs: 240_000,
      timeoutMs: 20_000,
      onStatus: (s) => s === 202 && accepted++,
    });
    const waitForAccepted = async (n: number) => {
      while (accepted < n) await sleep(50);
    };
    const faults: string[] = [];
    for (const [service, downMs] of [
      ['kafka', 4000],
      ['object-store', 3000],
      ['postgres', 3000],
    ] as const) {
      await waitForAccepted(Math.min(images.length - 60, accepted + 15));
      await stack.stop(service);
      faults.push(service);
      await sleep(downMs);
      await stack.start(service);
    }
    const outcome = await ingest;

    assert.equal(outcome.accepted.size, images.length, 'every image was eventually accepted');
    assert.equal(outcome.statuses.get(500) ?? 0, 0, `no 500: ${JSON.stringify([...outcome.statuses])}`);
    assert.equal(outcome.statuses.get(-1) ?? 0, 0, 'no request hung');
    assert.ok(
      (outcome.statuses.get(503) ?? 0) > 0,
      `a dependency outage was answered with 503: ${JSON.stringify([...outcome.statuses])}`,
    );
    for (const status of outcome.statuses.keys())
      assert.ok([202, 503, 409].includes(status), `unexpected status ${status}`);

    const listed = await waitUntilAllIndexed(deeplens.readUrl, apiKey, images.length, 240_000);
    assert.equal(listed.length, images.length, 'each accepted image exactly once');
    assert.deepEqual(
      new Set(listed.map((i) => i.id)),
      new Set(outcome.accepted.values()),
      'the images the clients were given',
    );
    console.log(
      `service faults: ${faults.join(', ')} restarted; ${outcome.attempts} requests for ${images.length} images; statuses ${JSON.stringify([...outcome.statuses])}`,
    );
  });
});
