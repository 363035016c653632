import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { Cluster } from '../../routing/cluster.ts';
import { createControlPlane, type ControlPlane, type ControlPlaneHooks, type PreflightResult } from '../../routing/control-plane.ts';
import { isRejection, type Admission, type Ticket } from '../../routing/cutover-barrier.ts';
import { FlipAbortedError, NotFoundError, RouteConflictError, StateStoreError, UnavailableError, ValidationError } from '../../routing/errors.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';
// The tests' hand-made stores have the old whole-state shape ({ load, save }); createControlPlane still accepts it.
import { MemoryStateStore, type PersistedState, type SnapshotStateStore as StateStore } from '../../routing/state-store.ts';

const rules = {
  default: 'source',
  batches: {
    'wave-1': { topics: ['orders', 'payments'], prefixes: ['billing.'] },
    'wave-2': { patterns: ['^logs\\..*'] },
  },
};

const who = 'alice';

interface Harness {
  cp: ControlPlane;
  store: MemoryStateStore;
  preflightCalls: { topics: readonly string[]; to: Cluster }[];
  setPreflight: (result: PreflightResult) => void;
}

async function harness(options: { store?: StateStore; hooks?: ControlPlaneHooks; flipTimeoutMs?: number } = {}): Promise<Harness> {
  const store = new MemoryStateStore();
  const preflightCalls: { topics: readonly string[]; to: Cluster }[] = [];
  let preflight: PreflightResult = { refusals: [], warnings: [] };
  const cp = await createControlPlane({
    rules,
    store: options.store ?? store,
    hooks: {
      preflight: async (topics, to) => {
        preflightCalls.push({ topics: [...topics], to });
        return preflight;
      },
      partitionsOf: (topic) => (topic === 'orders' ? [0, 1] : 'unknown'),
      knownTopics: () => ['orders', 'payments', 'billing.invoices', 'logs.app', 'unrelated'],
      ...options.hooks,
    },
    flipTimeoutMs: options.flipTimeoutMs ?? 2_000,
    ledgerSaveDelayMs: 1,
  });
  return { cp, store, preflightCalls, setPreflight: (r) => void (preflight = r) };
}

function ticket(admission: Admission | Promise<Admission>): Ticket {
  assert.ok(!(admission instanceof Promise) && !isRejection(admission), 'expected a synchronous ticket');
  return admission;
}

describe('control plane: flips, dry runs and pre-flight', () => {
  it('flips a batch: persisted, new version, audit and ledger, routes switched', async () => {
    const { cp, store, preflightCalls } = await harness();
    const result = await cp.flipBatch('wave-1', { who, reason: 'wave 1 go' });
    assert.equal(result.outcome, 'ok');
    assert.equal(result.version, 1);
    assert.equal(result.previousVersion, 0);
    assert.deepEqual(result.changes, [{ kind: 'batch', name: 'wave-1', before: 'source', after: 'target' }]);
    assert.deepEqual(result.move?.topics, ['billing.invoices', 'orders', 'payments']);
    assert.deepEqual(preflightCalls, [{ topics: ['billing.invoices', 'orders', 'payments'], to: 'target' }]);
    assert.deepEqual(
      result.ledger.map((e) => [e.topic, e.partition, e.from, e.to, e.version]),
      [
        ['orders', 0, 'source', 'target', 1],
        ['orders', 1, 'source', 'target', 1],
      ],
    );
    assert.ok(result.timings !== null && result.timings.totalMs >= 0);

    assert.equal(cp.resolve('orders').cluster, 'target');
    assert.equal(cp.resolve('billing.new').cluster, 'target');
    assert.equal(cp.resolve('logs.app').cluster, 'source');
    assert.equal(cp.version, 1);
    const [entry] = cp.audit();
    assert.equal(entry?.who, 'alice');
    assert.equal(entry?.reason, 'wave 1 go');
    assert.equal(entry?.action, 'flip');
    assert.equal(entry?.outcome, 'ok');
    assert.equal(entry?.version, 1);
    assert.deepEqual(entry?.target, { kind: 'batch', name: 'wave-1' });
    assert.equal(store.saves, 1);
    const saved = await store.load();
    assert.equal(saved?.version, 1);
    assert.equal(saved?.batches.get('wave-1'), 'target');
    assert.equal(cp.routes().batches.find((b) => b.name === 'wave-1')?.cluster, 'target');
  });

  it('a dry run returns the plan and changes nothing', async () => {
    const { cp, store, setPreflight } = await harness();
    setPreflight({ refusals: ['payments: 3 partitions on source, 6 on target'], warnings: ['billing.invoices: missing on target'] });
    const plan = await cp.flipBatch('wave-1', { who, dryRun: true });
    assert.equal(plan.dryRun, true);
    assert.equal(plan.outcome, 'planned');
    assert.equal(plan.version, 0);
    assert.deepEqual(plan.move, { from: 'source', to: 'target', topics: ['billing.invoices', 'orders', 'payments'] });
    assert.deepEqual(plan.refusals, ['payments: 3 partitions on source, 6 on target']);
    assert.deepEqual(plan.preflight?.warnings, ['billing.invoices: missing on target']);
    assert.equal(cp.version, 0);
    assert.equal(cp.resolve('orders').cluster, 'source');
    assert.deepEqual(cp.audit(), []);
    assert.equal(store.saves, 0);
  });

  it('pre-flight refusals → 409 and a refused audit entry; force goes through and the audit records it', async () => {
    const { cp, setPreflight } = await harness();
    setPreflight({ refusals: ['payments: 3 partitions on source, 6 on target'], warnings: [] });
    await assert.rejects(cp.flipBatch('wave-1', { who, reason: 'try' }), (error: unknown) => {
      assert.ok(error instanceof RouteConflictError);
      assert.equal(error.status, 409);
      assert.match(error.message, /refused by pre-flight checks: payments: 3 partitions/);
      assert.match(error.message, /force=true/);
      assert.deepEqual(error.details, ['payments: 3 partitions on source, 6 on target']);
      return true;
    });
    assert.equal(cp.version, 0);
    assert.equal(cp.resolve('orders').cluster, 'source');
    assert.equal(cp.audit()[0]?.outcome, 'refused');
    assert.deepEqual(cp.audit()[0]?.details.refusals, ['payments: 3 partitions on source, 6 on target']);

    const forced = await cp.flipBatch('wave-1', { who, reason: 'we know', force: true });
    assert.equal(forced.outcome, 'forced');
    assert.deepEqual(forced.forced, ['pre-flight refusal overridden: payments: 3 partitions on source, 6 on target']);
    const entry = cp.audit()[1];
    assert.equal(entry?.outcome, 'forced');
    assert.deepEqual(entry?.details.refusals, ['payments: 3 partitions on source, 6 on target']);
    assert.equal(cp.resolve('payments').cluster, 'target');
  });

  it('a pre-flight that throws is refused with 503 and audited', async () => {
    const { cp } = await harness({
      hooks: {
        preflight: async () => {
          throw new Error('target unreachable');
        },
      },
    });
    await assert.rejects(cp.flipBatch('wave-1', { who }), (error: unknown) => {
      assert.ok(error instanceof Error && 'status' in error);
      assert.equal(error.status, 503);
      assert.match(error.message, /target unreachable/);
      return true;
    });
    assert.equal(cp.audit()[0]?.outcome, 'refused');
  });

  it('validates input: unknown batch 404, bad topic 400, missing who 400, illegal transitions 409', async () => {
    const { cp } = await harness();
    await assert.rejects(cp.flipBatch('wave-9', { who }), (error: unknown) => {
      assert.ok(error instanceof NotFoundError);
      assert.equal(error.status, 404);
      assert.match(error.message, /unknown batch "wave-9"; the config declares wave-1, wave-2/);
      return true;
    });
    await assert.rejects(cp.flipTopic('bad topic!', { who }), ValidationError);
    await assert.rejects(cp.flipBatch('wave-1', { who: '' }), ValidationError);
    assert.throws(() => cp.resolve(''), ValidationError);
    await assert.rejects(cp.rollbackBatch('wave-1', { who }), /already on source/);
    await assert.rejects(cp.promoteBatch('wave-1', { who }), /flip it to target before promoting it/);
    await cp.flipBatch('wave-1', { who });
    await assert.rejects(cp.flipBatch('wave-1', { who }), /already on target/);
    // 404/400 are not audited; the three 409s are.
    assert.deepEqual(
      cp.audit().map((e) => e.outcome),
      ['refused', 'refused', 'ok', 'refused'],
    );
  });
});

describe('control plane: promote, rollback, reconciliation', () => {
  it('promote, then rollback needs force and records a reconciliation event with the ledger offsets', async () => {
    const { cp } = await harness();
    // Traffic on the source before the flip: the ledger records the last offset there.
    const before0 = ticket(cp.barrier.admit('orders', 0));
    cp.barrier.complete(before0, { ok: true, baseOffset: 100n, lastOffset: 104n });

    await cp.flipBatch('wave-1', { who });
    // First write on the target fills firstOffsetOnNew.
    const onTarget = ticket(cp.barrier.admit('orders', 0));
    assert.equal(onTarget.cluster, 'target');
    assert.equal(onTarget.generation, 1);
    cp.barrier.complete(onTarget, { ok: true, baseOffset: 0n, lastOffset: 9n });
    const flipEntry = cp.ledger().find((e) => e.topic === 'orders' && e.partition === 0);
    assert.equal(flipEntry?.lastOffsetOnOld, 104n);
    assert.equal(flipEntry?.firstOffsetOnNew, 0n);

    const promoted = await cp.promoteBatch('wave-1', { who, reason: 'target is good' });
    assert.equal(promoted.version, 2);
    assert.equal(promoted.move, null);
    assert.equal(cp.resolve('orders').state, 'promoted');
    assert.equal(cp.resolve('orders').cluster, 'target');

    await assert.rejects(cp.rollbackBatch('wave-1', { who }), (error: unknown) => {
      assert.ok(error instanceof RouteConflictError);
      assert.match(error.message, /promoted.*force=true.*reconciliation/s);
      return true;
    });
    assert.equal(cp.resolve('orders').cluster, 'target');

    const later = ticket(cp.barrier.admit('orders', 0));
    cp.barrier.complete(later, { ok: true, baseOffset: 10n, lastOffset: 20n });
    const rolledBack = await cp.rollbackBatch('wave-1', { who, reason: 'target broke', force: true });
    assert.equal(rolledBack.outcome, 'forced');
    assert.equal(rolledBack.reconciliation, true);
    assert.equal(rolledBack.version, 3);
    const recon = rolledBack.ledger.find((e) => e.topic === 'orders' && e.partition === 0);
    assert.deepEqual(
      recon && { from: recon.from, to: recon.to, reconciliation: recon.reconciliation, lastOffsetOnOld: recon.lastOffsetOnOld, reconcileFromOffset: recon.reconcileFromOffset },
      { from: 'target', to: 'source', reconciliation: true, lastOffsetOnOld: 20n, reconcileFromOffset: 0n },
    );
    const audit = cp.audit().at(-1);
    assert.equal(audit?.outcome, 'forced');
    assert.equal(audit?.details.reconciliation, true);
    assert.deepEqual(audit?.changes, [{ kind: 'batch', name: 'wave-1', before: 'promoted', after: 'source' }]);
    // Back on source with a fresh generation (a fresh upstream pid there): a moved topic's generation is the table
    // version of its last move (3), so it can be recovered from the ledger after a restart.
    const back = ticket(cp.barrier.admit('orders', 0));
    assert.deepEqual([back.cluster, back.generation], ['source', 3]);
    cp.barrier.complete(back, { ok: true, baseOffset: 105n });
    await cp.close();
  });

  it('topic overrides: flip ahead of the wave, then the wave absorbs the override', async () => {
    const { cp } = await harness();
    const flipped = await cp.flipTopic('orders', { who });
    assert.deepEqual(flipped.changes, [{ kind: 'topic', name: 'orders', before: null, after: 'target' }]);
    assert.deepEqual(flipped.move?.topics, ['orders']);
    assert.equal(cp.resolve('orders').rule.kind, 'topic-override');
    assert.equal(cp.resolve('orders').cluster, 'target');
    assert.equal(cp.resolve('payments').cluster, 'source');

    const wave = await cp.flipBatch('wave-1', { who });
    assert.deepEqual(wave.changes, [
      { kind: 'batch', name: 'wave-1', before: 'source', after: 'target' },
      { kind: 'topic', name: 'orders', before: 'target', after: null },
    ]);
    assert.ok(!wave.move?.topics.includes('orders'), 'orders was already on target and does not move');
    assert.equal(cp.resolve('orders').rule.kind, 'exact');

    // Keep one topic back while its wave is on target; the wave's rollback absorbs it again.
    await cp.rollbackTopic('payments', { who });
    assert.equal(cp.resolve('payments').cluster, 'source');
    assert.equal(cp.routes().topics.length, 1);
    const back = await cp.rollbackBatch('wave-1', { who });
    assert.ok(back.changes.some((c) => c.kind === 'topic' && c.name === 'payments' && c.after === null));
    assert.deepEqual(cp.routes().topics, []);
    await assert.rejects(cp.rollbackTopic('payments', { who }), /already on source/);
  });

  it('rollbackAll moves everything back in one version; promoted routes need force', async () => {
    const { cp } = await harness();
    await cp.flipBatch('wave-1', { who });
    await cp.flipBatch('wave-2', { who });
    await cp.flipTopic('unrelated', { who });
    await cp.promoteBatch('wave-2', { who });
    await assert.rejects(cp.rollbackAll({ who }), /batch "wave-2" is promoted/);
    const result = await cp.rollbackAll({ who, reason: 'abort migration', force: true });
    assert.equal(result.version, 5);
    assert.equal(result.reconciliation, true);
    assert.deepEqual(result.move?.topics, ['billing.invoices', 'logs.app', 'orders', 'payments', 'unrelated']);
    for (const topic of ['orders', 'logs.app', 'unrelated', 'billing.x']) assert.equal(cp.resolve(topic).cluster, 'source', topic);
    assert.deepEqual(cp.routes().topics, []);
    // Only the promoted batch's partitions are reconciliation events.
    assert.ok(result.ledger.every((e) => e.reconciliation === (e.topic === 'logs.app')));
    await assert.rejects(cp.rollbackAll({ who }), /nothing to roll back/);
  });
});

describe('control plane: barrier integration', () => {
  it('persists before acknowledging: held writes are released only after save() resolved', async () => {
    let releaseSave: () => void = () => undefined;
    const memory = new MemoryStateStore();
    const slow: StateStore = {
      load: () => memory.load(),
      save: async (state: PersistedState) => {
        await new Promise<void>((resolve) => (releaseSave = resolve));
        await memory.save(state);
      },
    };
    const { cp } = await harness({ store: slow });
    const flip = cp.flipBatch('wave-1', { who });
    await tick();
    await tick();
    const waiting = cp.barrier.admit('orders', 0);
    assert.ok(waiting instanceof Promise, 'held while the state is being saved');
    assert.equal(cp.resolve('orders').cluster, 'source', 'not switched before the save');
    let released = false;
    // The data path answers what the move released (the move's answer waits for that: its error count).
    void waiting.then((a) => {
      released = true;
      if (!isRejection(a)) cp.barrier.complete(a, { ok: true, baseOffset: 2n });
    });
    await tick();
    assert.equal(released, false);
    releaseSave();
    await flip;
    const a = await waiting;
    assert.ok(!isRejection(a) && a.cluster === 'target');
    assert.equal((await memory.load())?.version, 1);
  });

  it('a failing store: nothing switches, held writes go to the source, the error is 500', async () => {
    const failing: StateStore = {
      load: async () => null,
      save: async () => {
        throw new Error('EROFS');
      },
    };
    const { cp } = await harness({ store: failing });
    const blocker = ticket(cp.barrier.admit('orders', 0));
    const flip = cp.flipBatch('wave-1', { who });
    await tick();
    const waiting = cp.barrier.admit('orders', 0);
    cp.barrier.complete(blocker, { ok: true, baseOffset: 1n });
    await assert.rejects(flip, (error: unknown) => {
      assert.ok(error instanceof StateStoreError);
      assert.equal(error.status, 500);
      assert.match(error.message, /nothing was switched: EROFS/);
      return true;
    });
    const a = await waiting;
    assert.ok(!isRejection(a) && a.cluster === 'source');
    assert.equal(cp.version, 0);
    assert.equal(cp.audit().at(-1)?.outcome, 'aborted');
  });

  it('a drain timeout aborts with 503, audits it, and keeps the route', async () => {
    const { cp } = await harness({ flipTimeoutMs: 20 });
    const stuck = ticket(cp.barrier.admit('payments', 2));
    await assert.rejects(cp.flipBatch('wave-1', { who }), (error: unknown) => {
      assert.ok(error instanceof FlipAbortedError);
      assert.equal(error.status, 503);
      assert.match(error.message, /did not finish within 20 ms.*payments\[2\]/);
      return true;
    });
    assert.equal(cp.resolve('payments').cluster, 'source');
    assert.equal(cp.version, 0);
    const entry = cp.audit().at(-1);
    assert.equal(entry?.outcome, 'aborted');
    assert.match(entry?.details.error ?? '', /did not finish/);
    cp.barrier.complete(stuck, { ok: true, baseOffset: 1n });
  });

  it('concurrent operations: same scope → 409 at once, disjoint batches run together', async () => {
    const { cp } = await harness();
    const blocker = ticket(cp.barrier.admit('orders', 0));
    const first = cp.flipBatch('wave-1', { who });
    await tick();
    await tick();
    await assert.rejects(cp.flipBatch('wave-1', { who }), /conflicts with the flip of batch "wave-1"/);
    await assert.rejects(cp.flipTopic('payments', { who }), /conflicts with the flip of batch "wave-1"/);
    await assert.rejects(cp.rollbackAll({ who, force: true }), RouteConflictError);
    const other = await cp.flipBatch('wave-2', { who });
    assert.equal(other.version, 1);
    assert.equal(cp.routes().moves.length, 1);
    cp.barrier.complete(blocker, { ok: true, baseOffset: 1n });
    const done = await first;
    assert.equal(done.version, 2);
    assert.equal(cp.resolve('orders').cluster, 'target');
    assert.equal(cp.resolve('logs.x').cluster, 'target');
  });

  it('a topic first produced to during a flip of its pattern batch is held and moved', async () => {
    const { cp } = await harness();
    const blocker = ticket(cp.barrier.admit('logs.app', 0));
    const flip = cp.flipBatch('wave-2', { who });
    await tick();
    await tick();
    const fresh = cp.barrier.admit('logs.brand-new', 0);
    assert.ok(fresh instanceof Promise);
    void fresh.then((a) => !isRejection(a) && cp.barrier.complete(a, { ok: true, baseOffset: 2n }));
    cp.barrier.complete(blocker, { ok: true, baseOffset: 1n });
    const result = await flip;
    assert.ok(result.move?.topics.includes('logs.brand-new'));
    const a = await fresh;
    assert.ok(!isRejection(a) && a.cluster === 'target');
  });
});

describe('control plane: restart', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmp-cp-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('restores routes, audit and ledger (with filled first offsets) from the file store', async () => {
    const path = join(dir, 'state.json');
    const first = await harness({ store: new FileStateStore(path) });
    await first.cp.flipBatch('wave-1', { who, reason: 'go' });
    await first.cp.flipTopic('unrelated', { who });
    const t = ticket(first.cp.barrier.admit('orders', 1));
    first.cp.barrier.complete(t, { ok: true, baseOffset: 77n });
    await first.cp.close();

    const second = await harness({ store: new FileStateStore(path) });
    const cp = second.cp;
    assert.equal(cp.version, 2);
    assert.equal(cp.resolve('orders').cluster, 'target');
    assert.equal(cp.resolve('unrelated').cluster, 'target');
    assert.equal(cp.resolve('logs.app').cluster, 'source');
    assert.deepEqual(
      cp.audit().map((e) => [e.seq, e.action, e.target.name, e.outcome, e.version]),
      [
        [1, 'flip', 'wave-1', 'ok', 1],
        [2, 'flip', 'unrelated', 'ok', 2],
      ],
    );
    assert.equal(cp.ledger().find((e) => e.topic === 'orders' && e.partition === 1)?.firstOffsetOnNew, 77n);
    assert.deepEqual(cp.warnings, []);
    const next = await cp.rollbackBatch('wave-1', { who });
    assert.equal(next.version, 3);
    await cp.close();
  });

  it('refuses writes after close() (503) and bad limits at construction (400)', async () => {
    const { cp } = await harness();
    await assert.rejects(cp.flipBatch('wave-1', { who, timeoutMs: -5 }), ValidationError);
    await cp.close();
    await assert.rejects(cp.flipBatch('wave-1', { who }), (error: unknown) => {
      assert.ok(error instanceof UnavailableError);
      assert.equal(error.status, 503);
      return true;
    });
    await assert.rejects(createControlPlane({ rules, store: new MemoryStateStore(), flipTimeoutMs: 0 }), /flipTimeoutMs/);
    await assert.rejects(createControlPlane({ rules: { batches: { a: { patterns: ['('] } } }, store: new MemoryStateStore() }), ValidationError);
  });

  it('warns about state for batches the config no longer declares', async () => {
    const store = new MemoryStateStore();
    await store.save({ version: 4, batches: new Map([['wave-old', 'target']]), topics: new Map(), audit: [], ledger: [] });
    const { cp } = await harness({ store });
    assert.equal(cp.version, 4);
    assert.match(cp.warnings[0] ?? '', /batch "wave-old" \(target\) but the config does not declare it/);
    assert.deepEqual(cp.routes().orphanedBatches, [{ name: 'wave-old', state: 'target' }]);
  });

  it('refuses to start on a corrupt state file', async () => {
    const store: StateStore = {
      load: async () => {
        throw new StateStoreError('route state x is invalid');
      },
      save: async () => undefined,
    };
    await assert.rejects(harness({ store }), StateStoreError);
  });
});
