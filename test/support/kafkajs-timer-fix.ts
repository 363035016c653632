// kafkajs 2.2.4 (a test-side client only; the proxy never loads it) arms `setTimeout(check, throttledUntil -
// Date.now())` after every answer, and `throttledUntil` starts at -1, so with nothing pending the delay is
// minus the wall clock. Node 24 then prints "TimeoutNegativeWarning: -17… is a negative number. Timeout duration
// was set to 1." in every integration run (upstream tulios/kafkajs#1751, fixes #1755/#1768 unreleased).
// This applies the upstream fix: a delay below 1 ms becomes 1 ms, which is exactly what Node did anyway, so
// kafkajs behaves as before and only the warning, which would hide a real one of ours, goes away.
import { createRequire } from 'node:module';

interface RequestQueueInternals {
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

// Same value as kafkajs' requestQueue CHECK_PENDING_REQUESTS_INTERVAL.
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueInternals };

RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueInternals): void {
  if (this.throttleCheckTimeoutId) return;
  let scheduleAt = this.throttledUntil - Date.now();
  if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL_MS;
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, Math.max(1, scheduleAt));
};
