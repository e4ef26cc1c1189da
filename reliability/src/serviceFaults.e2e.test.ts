import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { startDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { startPrivateStack } from '@deeplens/platform/testing/privateStack';
import { distinctImages, uploadAll, type UploadOutcome } from './ingestClient.ts';
import { tenantWithKey, waitUntilAllIndexed } from './systemSetup.ts';

describe('service faults mid-ingest (a private stack: Kafka, PostgreSQL and S3 stopped and restarted)', () => {
  it('answers 503 (never 500, never a hang) while a dependency is down, and every accepted image arrives once', async (t) => {
    const stack = await startPrivateStack(t);
    const deeplens = await startDeepLens(t, {
      stackEnv: stack.env,
      supervise: true,
      env: { OBJECT_STORE: 's3', LOG_LEVEL: process.env.DEEPLENS_FAULT_LOG_LEVEL ?? 'warn' },
    });
    // Every process's output, for the reader of a failed run (DEEPLENS_FAULT_OUTPUT=<file>).
    t.after(async () => {
      const file = process.env.DEEPLENS_FAULT_OUTPUT;
      if (file) await writeFile(file, deeplens.output.join('\n'));
    });
    try {
      await ingestThroughFaults(stack, deeplens);
    } catch (error) {
      // A failure says where the run was and what the processes last said (CI shows only this).
      if (error instanceof Error)
        error.message += `\nlast process output:\n${deeplens.output.slice(-40).join('\n').slice(-8000)}`;
      throw error;
    }
  });
});

async function ingestThroughFaults(
  stack: Awaited<ReturnType<typeof startPrivateStack>>,
  deeplens: Awaited<ReturnType<typeof startDeepLens>>,
): Promise<void> {
  const { apiKey } = await tenantWithKey(deeplens, 'faults');
  const images = await distinctImages(Number(process.env.DEEPLENS_FAULT_IMAGES ?? 200));

  let accepted = 0;
  let unavailable = 0;
  const outcomes: UploadOutcome[] = [];
  const upload = (batch: Buffer[]) => {
    const running = uploadAll(deeplens.writeUrl, apiKey, batch, {
      concurrency: 2,
      paceMs: 400,
      deadlineMs: 240_000,
      timeoutMs: 20_000,
      onStatus: (s) => {
        if (s === 202) accepted++;
        if (s === 503) unavailable++;
      },
    });
    return running.then((outcome) => void outcomes.push(outcome));
  };

  // The images go in phases, so that each outage meets uploads however slowly the machine
  // restarts a service: uploads already running when it stops, and more begun while it is
  // down. Uploads go through the outbox, so a Kafka outage is not the client's business;
  // object storage and PostgreSQL are, and each stays down until a client has been told
  // 503 (or 20 s).
  const faults = [
    ['kafka', 4000, false],
    ['object-store', 3000, true],
    ['postgres', 3000, true],
  ] as const;
  const across = Math.floor((images.length * 0.75) / faults.length);
  const during = Math.max(1, Math.floor(across / 8));
  let next = Math.floor(images.length * 0.15);
  await upload(images.slice(0, next));
  for (const [service, downMs, until503] of faults) {
    const acrossBatch = images.slice(next, next + across - during);
    const duringBatch = images.slice(next + across - during, next + across);
    next += across;
    const before = { accepted, unavailable };
    const runningAcross = upload(acrossBatch);
    while (accepted < before.accepted + 3 && accepted < before.accepted + acrossBatch.length) await sleep(50);
    await stack.stop(service);
    const downSince = Date.now();
    const runningDuring = upload(duringBatch);
    await sleep(downMs);
    while (until503 && unavailable === before.unavailable && Date.now() - downSince < 20_000)
      await sleep(100);
    await stack.start(service);
    await Promise.all([runningAcross, runningDuring]);
  }
  await upload(images.slice(next));

  const statuses = new Map<number, number>();
  const acceptedIds = new Map<string, string>();
  for (const outcome of outcomes) {
    for (const [status, n] of outcome.statuses) statuses.set(status, (statuses.get(status) ?? 0) + n);
    for (const [key, id] of outcome.accepted) acceptedIds.set(key, id);
  }
  const attempts = outcomes.reduce((sum, o) => sum + o.attempts, 0);
  assert.equal(acceptedIds.size, images.length, 'every image was eventually accepted');
  assert.equal(statuses.get(500) ?? 0, 0, `no 500: ${JSON.stringify([...statuses])}`);
  assert.equal(statuses.get(-1) ?? 0, 0, 'no request hung');
  assert.ok(
    (statuses.get(503) ?? 0) > 0,
    `a dependency outage was answered with 503: ${JSON.stringify([...statuses])}`,
  );
  for (const status of statuses.keys())
    assert.ok([202, 503, 409].includes(status), `unexpected status ${status}`);

  const listed = await waitUntilAllIndexed(deeplens.readUrl, apiKey, images.length, 240_000);
  assert.equal(listed.length, images.length, 'each accepted image exactly once');
  assert.deepEqual(
    new Set(listed.map((i) => i.id)),
    new Set(acceptedIds.values()),
    'the images the clients were given',
  );
  console.log(
    `service faults: ${faults.map(([s]) => s).join(', ')} restarted; ${attempts} requests for ${images.length} images; statuses ${JSON.stringify([...statuses])}`,
  );
}
