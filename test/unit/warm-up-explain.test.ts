// A warm-up that runs out of time names what it was waiting on (WarmUpRequest.explain): on a rollback with a hung
// source, the write-back lag it leaves behind (issue #13). Explanations are read when the bound passes, so they
// report the state at that moment, and a null answer adds nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createControlPlane } from '../../routing/control-plane.ts';
import { MemoryStateStore } from '../../routing/state-store.ts';

const rules = { default: 'source', batches: { 'wave-1': { topics: ['orders'] } } };

describe('warm-up explanations', () => {
  it('a warm-up that times out appends every non-null explanation, evaluated at the timeout', async () => {
    let lag = 0;
    const cp = await createControlPlane({
      rules,
      store: new MemoryStateStore(),
      hooks: {
        warmUp: (request) => {
          request.explain?.(() => (lag > 0 ? `write-back lag: orders[0] ${lag} records` : null));
          request.explain?.(() => null);
          lag = 7; // changed after registration: the message must show the value at the timeout
          return new Promise(() => undefined);
        },
      },
      flipTimeoutMs: 2_000,
      warmUpTimeoutMs: 50,
    });
    await assert.rejects(cp.flipBatch('wave-1', { who: 'alice' }), (error: Error) => {
      assert.match(error.message, /did not finish within 50 ms \(write-back lag: orders\[0\] 7 records\); nothing was held/);
      return true;
    });
    assert.equal(cp.resolve('orders').cluster, 'source');
    await cp.close();
  });

  it('without explanations the message is unchanged', async () => {
    const cp = await createControlPlane({
      rules,
      store: new MemoryStateStore(),
      hooks: { warmUp: (request) => (request.explain?.(() => null), new Promise(() => undefined)) },
      flipTimeoutMs: 2_000,
      warmUpTimeoutMs: 50,
    });
    await assert.rejects(cp.flipBatch('wave-1', { who: 'alice' }), /did not finish within 50 ms; nothing was held/);
    await cp.close();
  });
});
