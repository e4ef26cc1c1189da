import { createRequire } from 'node:module';

/**
 * kafkajs 2.2.4 keeps every broker connection's event loop busy for nothing: after each
 * response its request queue schedules a check of the pending requests even when none is
 * pending, at `throttledUntil - Date.now()` ms — with no throttle in effect that is
 * `-1 - Date.now()`, which Node runs after 1 ms (Node 24 warns `TimeoutNegativeWarning`), and
 * the check schedules the next one. So every connection wakes its process a thousand times a
 * second for as long as it is open: 15–20 ms of CPU per second in an idle DeepLens process
 * (`npx tsx bench/idleCpu.ts`). Here the check is scheduled only while a request is pending,
 * as kafkajs means it to be: a request is pending only when it could not be sent at once
 * (throttled, or too many in flight), and then it is checked again when the throttle ends,
 * or after 10 ms, exactly as before; a queue with nothing pending has nothing to check, and
 * the next `push` or response schedules again. Applied once, on import (by `kafka.ts`).
 */
type RequestQueue = {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
};

/** kafkajs's own interval for a queue that is full rather than throttled. */
const checkPendingRequestsIntervalMs = 10;

const require = createRequire(import.meta.url);
/** The request queue class kafkajs's connections use (CommonJS: the same module instance). */
export const kafkajsRequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: RequestQueue;
};

kafkajsRequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueue): void {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const throttledFor = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    throttledFor > 0 ? throttledFor : checkPendingRequestsIntervalMs,
  );
};
