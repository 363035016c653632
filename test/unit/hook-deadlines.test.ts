// The pre-flight's deadline (src/hook-deadlines.ts): a hung cluster refuses the move at the deadline, naming
// what the caller explains (the write-back lag on a rollback); an answer in time passes through unchanged.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerWithin, preflightWithDeadline } from '../../src/hook-deadlines.ts';
import type { PreflightResult } from '../../routing/operations.ts';

describe('pre-flight deadline', () => {
  it('an answer in time passes through unchanged', async () => {
    const answer: PreflightResult = { refusals: ['orders: 3 partitions on source, 4 on target'], warnings: ['w'] };
    const bounded = preflightWithDeadline(async () => answer, 1_000);
    assert.deepEqual(await bounded(['orders'], 'target'), answer);
  });

  it('a hung check is refused at the deadline with the explanation, and the route named', async () => {
    const asked: string[] = [];
    const bounded = preflightWithDeadline(() => new Promise(() => undefined), 40, (topics, to) => {
      asked.push(`${to}:${topics.join(',')}`);
      return to === 'source' ? 'write-back lag: orders[0] 12 records' : null;
    });
    const started = performance.now();
    const r = await bounded(['orders'], 'source');
    assert.ok(performance.now() - started >= 35, 'not before the deadline');
    assert.equal(r.refusals.length, 1);
    assert.match(r.refusals[0], /did not answer within 40 ms \(is source down or hung\?\) \(write-back lag: orders\[0\] 12 records\); the route stays on target/);
    assert.deepEqual(asked, ['source:orders']);
    const toTarget = await bounded(['orders'], 'target');
    assert.doesNotMatch(toTarget.refusals[0], /write-back/);
  });

  it('a check that fails after the deadline raises no unhandled rejection; one that fails in time still throws', async () => {
    const late = preflightWithDeadline(() => new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 60)), 10);
    assert.equal((await late(['orders'], 'target')).refusals.length, 1);
    await new Promise((r) => setTimeout(r, 80)); // the late rejection fires here; node:test fails on an unhandled one
    const early = preflightWithDeadline(async () => Promise.reject(new Error('metadata failed')), 1_000);
    await assert.rejects(early(['orders'], 'target'), /metadata failed/);
  });

  it('refuses a nonsense timeout', () => {
    assert.throws(() => preflightWithDeadline(async () => ({ refusals: [], warnings: [] }), 0), /must be > 0/);
  });
});

describe('answerWithin', () => {
  it('the answer when it comes in time, the fallback when it is late or fails', async () => {
    assert.deepEqual(await answerWithin(Promise.resolve(['a']), 50, []), ['a']);
    const started = performance.now();
    assert.deepEqual(await answerWithin(new Promise<string[]>(() => undefined), 30, ['fallback']), ['fallback']);
    assert.ok(performance.now() - started >= 25);
    assert.equal(await answerWithin(Promise.reject(new Error('down')), 1_000, null), null);
  });
});
