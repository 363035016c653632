import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteStateName } from '../../routing/cluster.ts';
import { RouteConflictError } from '../../routing/errors.ts';
import { planBatch, planRollbackAll, planTopic, scopesOverlap } from '../../routing/route-plan.ts';
import { compileRules } from '../../routing/rules.ts';
import { SwitchTable } from '../../routing/switch-table.ts';

function snapshot(def: 'source' | 'target', batches: Record<string, RouteStateName>, topics: Record<string, RouteStateName>) {
  const rules = compileRules({ default: def, batches: { w1: { topics: ['orders', 'payments'] }, w2: { prefixes: ['logs.'] } } });
  return new SwitchTable(rules, { version: 1, batches: new Map(Object.entries(batches)), topics: new Map(Object.entries(topics)) }).snapshot;
}

describe('route plans', () => {
  it('a batch flip drops the overrides of its topics that now agree, and keeps the others', () => {
    const plan = planBatch(snapshot('source', {}, { orders: 'target', 'logs.x': 'target' }), 'w1', 'target', false);
    assert.deepEqual(plan.changes, [
      { kind: 'batch', name: 'w1', before: 'source', after: 'target' },
      { kind: 'topic', name: 'orders', before: 'target', after: null },
    ]);
    assert.deepEqual([plan.from, plan.to, plan.reconciliation], ['source', 'target', false]);
  });

  it('promote moves no traffic', () => {
    const plan = planBatch(snapshot('source', { w1: 'target' }, {}), 'w1', 'promoted', false);
    assert.deepEqual([plan.from, plan.to], [null, null]);
  });

  it('a topic flip sets an override, or drops one when the batch already agrees', () => {
    assert.deepEqual(planTopic(snapshot('source', {}, {}), 'orders', 'target', false).changes, [
      { kind: 'topic', name: 'orders', before: null, after: 'target' },
    ]);
    assert.deepEqual(planTopic(snapshot('source', { w1: 'target' }, { orders: 'source' }), 'orders', 'target', false).changes, [
      { kind: 'topic', name: 'orders', before: 'source', after: null },
    ]);
    assert.throws(() => planTopic(snapshot('source', { w1: 'promoted' }, {}), 'orders', 'source', false), RouteConflictError);
    const forced = planTopic(snapshot('source', { w1: 'promoted' }, {}), 'orders', 'source', true);
    assert.equal(forced.reconciliation, true);
    assert.deepEqual(forced.changes, [{ kind: 'topic', name: 'orders', before: null, after: 'source' }]);
  });

  it('rollbackAll leaves topics routed by a target default where they are, but rolls back their overrides', () => {
    const plan = planRollbackAll(snapshot('target', { w1: 'target' }, { unrelated: 'target', payments: 'source' }), false);
    assert.deepEqual(plan.changes, [
      { kind: 'batch', name: 'w1', before: 'target', after: 'source' },
      { kind: 'topic', name: 'unrelated', before: 'target', after: 'source' },
      { kind: 'topic', name: 'payments', before: 'source', after: null },
    ]);
    assert.throws(() => planRollbackAll(snapshot('target', {}, {}), false), /nothing to roll back/);
  });

  it('scopes overlap on the same batch or topic, a topic and its batch, and anything with "all"', () => {
    assert.ok(scopesOverlap({ kind: 'batch', name: 'w1' }, { kind: 'batch', name: 'w1' }));
    assert.ok(!scopesOverlap({ kind: 'batch', name: 'w1' }, { kind: 'batch', name: 'w2' }));
    assert.ok(scopesOverlap({ kind: 'topic', name: 'orders', batch: 'w1' }, { kind: 'batch', name: 'w1' }));
    assert.ok(!scopesOverlap({ kind: 'topic', name: 'orders', batch: 'w1' }, { kind: 'batch', name: 'w2' }));
    assert.ok(!scopesOverlap({ kind: 'topic', name: 'a', batch: null }, { kind: 'topic', name: 'b', batch: null }));
    assert.ok(scopesOverlap({ kind: 'all' }, { kind: 'topic', name: 'b', batch: null }));
  });
});
