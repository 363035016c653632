// Latency histogram windows, per-topic evidence from settled partition writes, the canary's rules, and the
// canary runner driving a fake control plane (rollback on a breach with the figures; the whole wave otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { LatencyHistogram } from '../../src/gates/latency-histogram.ts';
import { TopicEvidence, windowBetween } from '../../src/gates/topic-evidence.ts';
import { CanaryRunner, judge, type CanaryView } from '../../src/gates/canary.ts';
import { OperationRegistry } from '../../src/gates/operation-registry.ts';
import { PartitionWrite, partitionAnswer } from '../../src/proxy/produce/partition-write.ts';
import { parseDurationMs, parseRate } from '../../src/cli/gates2.ts';

test('latency histogram: quantiles are bucket upper bounds; since() isolates a window', () => {
  const h = new LatencyHistogram();
  for (let i = 0; i < 98; i++) h.observe(2);
  h.observe(40);
  h.observe(400);
  assert.equal(h.quantile(0.5), 2);
  assert.equal(h.quantile(0.99), 50);
  assert.equal(h.quantile(1), 500);
  const before = h.snapshot();
  for (let i = 0; i < 10; i++) h.observe(900);
  const w = h.since(before);
  assert.equal(w.count, 10);
  assert.equal(w.quantile(0.5), 1000);
  assert.equal(new LatencyHistogram().quantile(0.99), null);
});

function settledWrite(topic: string, cluster: 'source' | 'target', how: 'ok' | 'failed' | 'not-sent', errorCode: number = ErrorCode.NONE): PartitionWrite {
  const w = new PartitionWrite(topic, 0, null);
  w.cluster = cluster;
  w.recordCount = 3;
  w.settlement = how;
  w.result = partitionAnswer(0, errorCode, null);
  return w;
}

test('evidence: writes, failures by error name and records per (topic, cluster); not-sent writes are not counted', () => {
  const ev = new TopicEvidence();
  try {
    const base = ev.snapshot('t', 'target');
    for (let i = 0; i < 4; i++) {
      const w = settledWrite('t', 'target', 'ok');
      ev.settled(w);
    }
    ev.settled(settledWrite('t', 'target', 'failed', ErrorCode.NOT_ENOUGH_REPLICAS));
    ev.settled(settledWrite('t', 'target', 'not-sent', ErrorCode.NOT_LEADER_OR_FOLLOWER));
    ev.settled(settledWrite('t', 'source', 'ok'));
    const win = windowBetween(base, ev.snapshot('t', 'target'));
    assert.equal(win.writes, 5);
    assert.equal(win.failed, 1);
    assert.equal(win.records, 12);
    assert.equal(win.errorRate, 0.2);
    assert.deepEqual(win.errors, { NOT_ENOUGH_REPLICAS: 1 });
    assert.notEqual(win.p99Ms, null, 'latency of the stamped writes');
    const view = ev.view('t');
    assert.equal(view?.clusters.source?.records, 3);
    assert.equal(view?.clusters.target?.failed, 1);
  } finally {
    ev.close();
  }
});

test('canary rules: error rate over the max breaches; p99 only with enough writes or at the end', () => {
  const rules = { topics: ['a'], watchMs: 1000, maxErrorRate: 0.001, maxP99Ms: 100 };
  const figures = (writes: number, failed: number, p99Ms: number | null) => ({ seconds: 1, writes, failed, records: writes, errorRate: writes === 0 ? null : failed / writes, p50Ms: 1, p99Ms, errors: (failed > 0 ? { NOT_ENOUGH_REPLICAS: failed } : {}) as Record<string, number>, recordsPerSec: writes });
  assert.match(judge(rules, figures(10, 1, 5), false) ?? '', /^error rate 10% \(1 of 10 writes failed: NOT_ENOUGH_REPLICAS x1\) > max 0.1%/);
  assert.equal(judge(rules, figures(2000, 1, 5), false), null, '0.05% is under 0.1%');
  assert.equal(judge(rules, figures(5, 0, 250), false), null, 'too few writes to judge p99 early');
  assert.match(judge(rules, figures(5, 0, 250), true) ?? '', /^p99 produce latency 250 ms over 5 writes > max 100 ms/);
  assert.equal(judge(rules, figures(0, 0, null), true), null);
});

test('CLI values: durations and rates', () => {
  assert.equal(parseDurationMs('--watch', '60s'), 60_000);
  assert.equal(parseDurationMs('--watch', '2m'), 120_000);
  assert.equal(parseDurationMs('--watch', '1500ms'), 1500);
  assert.equal(parseDurationMs('--watch', '5'), 5000);
  assert.throws(() => parseDurationMs('--watch', 'soon'), /--watch: expected a duration/);
  assert.equal(parseRate('--max-error-rate', '0.1%'), 0.001);
  assert.equal(parseRate('--max-error-rate', '0.02'), 0.02);
  assert.throws(() => parseRate('--max-error-rate', '150%'), /at most 100%/);
});

/** A control plane that records calls; topics of wave "w" are a, b, c. */
function fakeControlPlane() {
  const calls: string[] = [];
  const onTarget = new Set<string>();
  const result = (version: number) => ({ dryRun: false, action: 'flip', target: { kind: 'batch', name: 'w' }, outcome: 'ok', version, previousVersion: version - 1, changes: [], move: { from: 'source', to: 'target', topics: ['b', 'c'] }, preflight: null, forced: [], refusals: [] as string[], timings: null, ledger: [], heldRequests: 0, rejectedRequests: 0, reconciliation: false });
  const cp = {
    calls,
    resolve: (topic: string) => ({ topic, cluster: onTarget.has(topic) ? 'target' : 'source', batch: ['a', 'b', 'c'].includes(topic) ? 'w' : null, state: 'source', rule: { kind: 'default', value: null }, version: 1 }),
    flipTopic: async (topic: string, o: { reason?: string }) => (calls.push(`flipTopic ${topic} ${o.reason}`), onTarget.add(topic), result(2)),
    rollbackTopic: async (topic: string, o: { reason?: string }) => (calls.push(`rollbackTopic ${topic} ${o.reason}`), onTarget.delete(topic), result(3)),
    flipBatch: async (name: string, o: { dryRun?: boolean; reason?: string }) => (calls.push(`flipBatch ${name}${o.dryRun ? ' dry' : ` ${o.reason}`}`), { ...result(4), dryRun: o.dryRun === true }),
  };
  return cp;
}

async function runCanary(failEvery: number | null): Promise<{ view: CanaryView; calls: string[] }> {
  const cp = fakeControlPlane();
  const ev = new TopicEvidence();
  const registry = new OperationRegistry<CanaryView>();
  // The fake writes traffic on the canary topic while the canary watches.
  let n = 0;
  const traffic = setInterval(() => {
    const fail = failEvery !== null && ++n % failEvery === 0;
    ev.settled(settledWrite('a', 'target', fail ? 'failed' : 'ok', fail ? ErrorCode.NOT_ENOUGH_REPLICAS : ErrorCode.NONE));
  }, 5);
  try {
    // The runner's option types are the admin port's; the fake has only the members the runner calls.
    const runner = new CanaryRunner({ controlPlane: cp as never, evidence: ev, registry, log: pino({ level: 'silent' }), tickMs: 20 });
    const first = (await runner.start('w', { topics: ['a'], watchMs: 400, maxErrorRate: 0.05 }, { who: 'ops', reason: 'CHG-1' })) as CanaryView;
    assert.equal(first.kind, 'canary-flip');
    await assert.rejects(runner.start('w', { topics: ['b'], watchMs: 400, maxErrorRate: 0.05 }, { who: 'ops' }), /already running/);
    for (let i = 0; i < 200; i++) {
      const v = registry.get(first.id)!;
      if (['done', 'rolled-back', 'failed'].includes(v.phase)) return { view: v, calls: cp.calls };
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail('the canary did not finish');
  } finally {
    clearInterval(traffic);
    ev.close();
  }
}

test('canary runner: a breach rolls the canary topics back with the figures in the reason; the wave does not move', async () => {
  const { view, calls } = await runCanary(2);
  assert.equal(view.phase, 'rolled-back');
  assert.match(view.breach ?? '', /^error rate [\d.]+% \(\d+ of \d+ writes failed: NOT_ENOUGH_REPLICAS x\d+\) > max 5%$/);
  assert.equal(calls[0], 'flipBatch w dry');
  assert.match(calls[1], /^flipTopic a canary op-\w+ of wave w — CHG-1$/);
  assert.match(calls[2], /^rollbackTopic a canary op-\w+ of wave w rolled back automatically: error rate [\d.]+% .* writes, \d+ failed/);
  assert.equal(calls.length, 3, 'no wave flip');
});

test('canary runner: a healthy canary flips the whole wave after the watch', async () => {
  const { view, calls } = await runCanary(null);
  assert.equal(view.phase, 'done', JSON.stringify(view));
  assert.ok(view.watchedMs >= 400);
  assert.ok((view.figures.total?.writes ?? 0) > 0);
  assert.match(calls.at(-1) ?? '', /^flipBatch w canary op-\w+ passed \(\d+ writes, 0 failed/);
  assert.deepEqual(view.waveFlip, { version: 4, topics: ['b', 'c'], holdMs: null });
});

test('canary runner: topics outside the wave and a wave the pre-flight refuses are refused before anything moves', async () => {
  const cp = fakeControlPlane();
  const ev = new TopicEvidence();
  try {
    const runner = new CanaryRunner({ controlPlane: cp as never, evidence: ev, registry: new OperationRegistry(), log: pino({ level: 'silent' }) });
    await assert.rejects(runner.start('w', { topics: ['zz'], watchMs: 400, maxErrorRate: 0 }, { who: 'ops' }), /canary topic "zz" is not in wave "w"/);
    cp.flipBatch = async () => ({ ...(await fakeControlPlane().flipBatch('w', { dryRun: true })), refusals: ['a: missing on the target'] });
    await assert.rejects(runner.start('w', { topics: ['a'], watchMs: 400, maxErrorRate: 0 }, { who: 'ops' }), /refused by the wave's pre-flight: a: missing on the target/);
    assert.deepEqual(cp.calls.filter((c) => c.startsWith('flipTopic')), []);
  } finally {
    ev.close();
  }
});
