import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkajsRequestQueue } from './kafkajsRequestQueue.ts';

const require = createRequire(import.meta.url);

type Queue = {
  pending: { send: () => void; expectResponse: boolean }[];
  inflight: Map<number, unknown>;
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  maybeThrottle(ms: number): void;
  checkPendingRequests(): void;
  destroy(): void;
};

function queue(): Queue {
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
  const silent = { debug: () => undefined, warn: () => undefined, error: () => undefined };
  return new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 30_000, logger: silent, broker: 'b' });
}

it('is the class kafkajs’s connections use', () => {
  assert.equal(require('kafkajs/src/network/requestQueue/index.js'), kafkajsRequestQueue);
});

it('schedules no check while nothing is pending (kafkajs ran one every millisecond for ever)', async () => {
  const q = queue();
  // What a response does: fulfilling a request checks the queue, and the check schedules the next.
  q.checkPendingRequests();
  assert.equal(q.throttleCheckTimeoutId, null);
  await sleep(20);
  assert.equal(q.throttleCheckTimeoutId, null);
  q.destroy();
});

it('still checks a pending request again once a throttle ends', async () => {
  const q = queue();
  q.maybeThrottle(50);
  let sent = 0;
  q.pending.push({ send: () => sent++, expectResponse: true });
  q.checkPendingRequests();
  assert.ok(q.throttleCheckTimeoutId, 'a check is scheduled for the end of the throttle');
  assert.equal(sent, 0, 'not sent while throttled');
  const deadline = Date.now() + 5_000;
  while (sent === 0 && Date.now() < deadline) await sleep(10);
  assert.equal(sent, 1, 'sent once the throttle ended');
  assert.equal(q.pending.length, 0);
  assert.equal(q.throttleCheckTimeoutId, null, 'and nothing scheduled after');
  q.destroy();
});
