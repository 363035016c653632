// Membership's leadership-change signal (src/fleet/membership.ts onChange), over a control log kept in memory and
// a clock the test moves: it fires when the live set changes and when this member forwards again after it was
// fenced — the moments the sequence guard must forget what it knew (another instance may have led its
// partitions meanwhile), and only then.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { ControlLogPort } from '../../src/fleet/control-log.ts';
import type { ControlRecord, ReadRecord } from '../../src/fleet/control-records.ts';
import { Membership } from '../../src/fleet/membership.ts';
import { SequenceGuard } from '../../src/proxy/sequence-guard.ts';

/** One topic's log in memory; reads wait briefly for a record like a long poll. */
class MemoryLog implements ControlLogPort {
  readonly records: ReadRecord[] = [];
  #wake: (() => void)[] = [];

  async append(_topic: string, records: readonly ControlRecord[]): Promise<bigint> {
    const base = BigInt(this.records.length);
    records.forEach((r, i) => this.records.push({ ...r, offset: base + BigInt(i), timestamp: Date.now() }));
    for (const w of this.#wake.splice(0)) w();
    return base;
  }

  async endOffset(): Promise<bigint> {
    return BigInt(this.records.length);
  }

  async read(_topic: string, offset: bigint, maxWaitMs: number): Promise<{ records: ReadRecord[]; next: bigint; highWatermark: bigint }> {
    if (BigInt(this.records.length) <= offset && maxWaitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(maxWaitMs, 20));
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return { records: this.records.slice(Number(offset)), next: BigInt(this.records.length), highWatermark: BigInt(this.records.length) };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function member(log: MemoryLog, clock: { now: number }, onChange: () => void): Membership {
  return new Membership({
    log,
    topic: 'members',
    lane: 3,
    self: { member: 'kmp-0', nodeId: 0, host: '127.0.0.1', port: 9092 },
    heartbeatMs: 20,
    leaseMs: 1_000,
    skewMarginMs: 100,
    report: () => ({ appliedVersion: 0, connections: 0, inflight: 0 }),
    catchUp: async () => undefined,
    logger: pino({ level: 'silent' }),
    now: () => clock.now,
    onChange,
  });
}

test('leadership change: signalled on un-fencing and on a live-set change, not on ordinary renewals', async () => {
  const log = new MemoryLog();
  const clock = { now: 10_000 };
  let changes = 0;
  const m = member(log, clock, () => changes++);
  await m.start();
  try {
    assert.equal(m.isFenced(), false, 'forwarding after the first heartbeat and catch-up');
    const afterStart = changes;
    assert.ok(afterStart >= 1, 'starting to forward is a change (nothing was led before)');
    await sleep(120); // several renewals on a clock that does not move
    assert.equal(changes, afterStart, 'renewing the lease changes nothing');

    clock.now += 2_000; // a pause (SIGSTOP): the lease lapsed on this member's own clock
    assert.equal(m.isFenced(), true);
    await sleep(120); // the next heartbeat renews, the logs are read, forwarding resumes
    assert.equal(m.isFenced(), false);
    assert.equal(changes, afterStart + 1, 'forwarding again after a fence is a leadership change');

    const before = changes;
    await log.append('members', [{ key: 'kmp-1', value: JSON.stringify({ member: 'kmp-1', nodeId: 1, host: '127.0.0.1', port: 9093, appliedVersion: 0, connections: 0, inflight: 0, fenced: false, leaving: false, sentAt: Date.now() }) }]);
    await sleep(60);
    assert.deepEqual(m.live(), ['kmp-0', 'kmp-1']);
    assert.equal(changes, before + 1, 'a member joining is a leadership change');
  } finally {
    await m.stop();
  }
});

test('the sequence guard forgets every producer on clear(): a batch far ahead passes again', () => {
  const g = new SequenceGuard();
  const k = SequenceGuard.key(7n, 0, 't', 0);
  assert.equal(g.forward(k, 0, 10), true);
  assert.equal(g.forward(k, 500, 10), false, 'beyond next: an earlier batch is missing');
  g.clear();
  assert.equal(g.next(k), undefined);
  assert.equal(g.forward(k, 500, 10), true, 'after a leadership change the first batch passes, as after a restart');
  assert.equal(g.next(k), 510);
});
