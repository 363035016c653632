import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteStateName } from '../../routing/cluster.ts';
import { RouteConflictError } from '../../routing/errors.ts';
import type { RouteAssignment } from '../../routing/route-state.ts';
import { compileRules } from '../../routing/rules.ts';
import { SwitchTable } from '../../routing/switch-table.ts';

const rules = compileRules({
  default: 'source',
  batches: {
    'wave-1': { topics: ['orders', 'payments'], prefixes: ['billing.'] },
    'wave-2': { patterns: ['^logs\\..*'] },
  },
});

function assignment(version: number, batches: Record<string, RouteStateName> = {}, topics: Record<string, RouteStateName> = {}): RouteAssignment {
  return { version, batches: new Map(Object.entries(batches)), topics: new Map(Object.entries(topics)) };
}

describe('switch table', () => {
  it('starts with every batch on source at version 0', () => {
    const table = new SwitchTable(rules);
    assert.deepEqual(table.resolve('orders'), {
      topic: 'orders',
      cluster: 'source',
      batch: 'wave-1',
      rule: { kind: 'exact', value: 'orders' },
      state: 'source',
      version: 0,
    });
    assert.equal(table.resolve('other').rule.kind, 'default');
  });

  it('maps batch states to clusters: source → source, target/promoted → target', () => {
    const table = new SwitchTable(rules, assignment(3, { 'wave-1': 'target', 'wave-2': 'promoted' }));
    assert.equal(table.resolve('billing.x').cluster, 'target');
    assert.equal(table.resolve('billing.x').state, 'target');
    assert.equal(table.resolve('logs.web').cluster, 'target');
    assert.equal(table.resolve('logs.web').state, 'promoted');
    assert.equal(table.resolve('unrelated').cluster, 'source');
    assert.equal(table.resolve('logs.web').version, 3);
  });

  it('a topic override beats every rule and still reports the batch', () => {
    const table = new SwitchTable(rules, assignment(1, { 'wave-1': 'target' }, { orders: 'source', unrelated: 'target' }));
    assert.deepEqual(table.resolve('orders'), {
      topic: 'orders',
      cluster: 'source',
      batch: 'wave-1',
      rule: { kind: 'topic-override', value: 'orders' },
      state: 'source',
      version: 1,
    });
    assert.equal(table.resolve('payments').cluster, 'target');
    assert.equal(table.resolve('unrelated').cluster, 'target');
    assert.equal(table.resolve('unrelated').batch, null);
  });

  it('caches per version: the same answer object until a swap, a fresh one after', () => {
    const table = new SwitchTable(rules, assignment(1));
    const first = table.resolve('orders');
    assert.equal(table.resolve('orders'), first, 'cached within a version');
    table.swap(assignment(2, { 'wave-1': 'target' }));
    const second = table.resolve('orders');
    assert.notEqual(second, first);
    assert.equal(second.cluster, 'target');
    assert.equal(second.version, 2);
    assert.equal(first.cluster, 'source', 'old answers are immutable');
  });

  it('readers keep the snapshot they took', () => {
    const table = new SwitchTable(rules, assignment(1));
    const snapshot = table.snapshot;
    table.swap(assignment(2, { 'wave-2': 'target' }));
    assert.equal(snapshot.resolve('logs.a').cluster, 'source');
    assert.equal(table.resolve('logs.a').cluster, 'target');
  });

  it('snapshots do not see later changes to the maps they were built from', () => {
    const batches = new Map<string, RouteStateName>();
    const table = new SwitchTable(rules, { version: 1, batches, topics: new Map() });
    batches.set('wave-1', 'target');
    assert.equal(table.resolve('orders').cluster, 'source');
  });

  it('refuses a swap that does not increase the version', () => {
    const table = new SwitchTable(rules, assignment(5));
    assert.throws(() => table.swap(assignment(5)), RouteConflictError);
    assert.throws(() => table.swap(assignment(4)), RouteConflictError);
    assert.equal(table.version, 5);
  });

  it('preview builds a snapshot without installing it', () => {
    const table = new SwitchTable(rules, assignment(1));
    const preview = table.preview(assignment(2, { 'wave-1': 'target' }));
    assert.equal(preview.resolve('orders').cluster, 'target');
    assert.equal(table.resolve('orders').cluster, 'source');
    assert.equal(table.version, 1);
  });

  it('ruleState ignores overrides', () => {
    const table = new SwitchTable(rules, assignment(1, { 'wave-1': 'target' }, { orders: 'source' }));
    assert.equal(table.snapshot.ruleState('orders'), 'target');
    assert.equal(table.snapshot.topicOverride('orders'), 'source');
    assert.equal(table.snapshot.ruleState('unrelated'), 'source');
  });

  it('is safe with topic names that are Object.prototype keys', () => {
    const topics = new Map<string, RouteStateName>([['__proto__', 'target']]);
    const table = new SwitchTable(rules, { version: 1, batches: new Map(), topics });
    assert.equal(table.resolve('__proto__').cluster, 'target');
    assert.equal(table.resolve('constructor').cluster, 'source');
    assert.equal(table.resolve('toString').cluster, 'source');
  });
});
