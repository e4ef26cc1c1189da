import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { startHealthServer } from './healthServer.ts';
import { clearNotReady, reportNotReady } from './readiness.ts';

describe('health server of a worker process', () => {
  it('answers /readyz 503 with each reason (topic, partition, offset) until it is cleared', async (t) => {
    const server = await startHealthServer('127.0.0.1', 0);
    t.after(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    reportNotReady({
      component: 'consumer metadata deeplens.image.v1:2',
      reason: 'undecodable: schema id 9 is not in the registry',
      topic: 'deeplens.image.v1',
      partition: 2,
      offset: 41,
    });
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    const body = (await notReady.json()) as { reasons: { offset: number; reason: string }[] };
    assert.equal(body.reasons[0]?.offset, 41);
    assert.match(body.reasons[0]?.reason ?? '', /schema id 9/);
    clearNotReady('consumer metadata deeplens.image.v1:2');
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /deeplens_consumer_halted/);
  });
});
