import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROUTE_STATE_NAMES, type RouteStateName } from '../../routing/cluster.ts';
import { RouteConflictError } from '../../routing/errors.ts';
import { applyChanges, checkTransition, currentOf, emptyRouteState } from '../../routing/route-state.ts';

const batch = { kind: 'batch', name: 'wave-1' } as const;

function conflict(from: RouteStateName, to: RouteStateName, force = false): RouteConflictError {
  try {
    checkTransition(batch, from, to, force);
  } catch (error) {
    assert.ok(error instanceof RouteConflictError);
    assert.equal(error.status, 409);
    return error;
  }
  assert.fail(`expected ${from} → ${to} to be refused`);
}

describe('route state transitions', () => {
  it('allows flip, rollback and promote', () => {
    assert.deepEqual(checkTransition(batch, 'source', 'target', false), { forced: false, reconciliation: false });
    assert.deepEqual(checkTransition(batch, 'target', 'source', false), { forced: false, reconciliation: false });
    assert.deepEqual(checkTransition(batch, 'target', 'promoted', false), { forced: false, reconciliation: false });
  });

  it('rolls back a promoted route only with force, as a reconciliation', () => {
    const error = conflict('promoted', 'source');
    assert.match(error.message, /batch "wave-1" is promoted/);
    assert.match(error.message, /force=true/);
    assert.deepEqual(checkTransition(batch, 'promoted', 'source', true), { forced: true, reconciliation: true });
  });

  it('refuses everything else with a message a person can act on', () => {
    assert.match(conflict('target', 'target').message, /already on target; nothing to do/);
    assert.match(conflict('source', 'source').message, /already on source/);
    assert.match(conflict('promoted', 'promoted').message, /already promoted/);
    assert.match(conflict('source', 'promoted').message, /flip it to target before promoting it/);
    assert.match(conflict('promoted', 'target').message, /roll it back with force=true/);
    // force does not open other transitions
    conflict('source', 'promoted', true);
    conflict('target', 'target', true);
  });

  it('covers every pair: exactly 4 transitions are possible', () => {
    let possible = 0;
    for (const from of ROUTE_STATE_NAMES) {
      for (const to of ROUTE_STATE_NAMES) {
        try {
          checkTransition(batch, from, to, true);
          possible += 1;
        } catch (error) {
          assert.ok(error instanceof RouteConflictError);
        }
      }
    }
    assert.equal(possible, 4);
  });

  it('applies changes without touching the input', () => {
    const state = emptyRouteState();
    const next = applyChanges(
      state,
      [
        { kind: 'batch', name: 'wave-1', before: 'source', after: 'target' },
        { kind: 'topic', name: 'orders', before: null, after: 'source' },
      ],
      1,
    );
    assert.equal(next.version, 1);
    assert.equal(next.batches.get('wave-1'), 'target');
    assert.equal(next.topics.get('orders'), 'source');
    assert.equal(state.batches.size, 0);
    const cleared = applyChanges(next, [{ kind: 'topic', name: 'orders', before: 'source', after: null }], 2);
    assert.equal(cleared.topics.has('orders'), false);
    assert.equal(currentOf(cleared, { kind: 'topic', name: 'orders', before: null, after: null }), null);
    assert.equal(currentOf(cleared, { kind: 'batch', name: 'never', before: null, after: null }), 'source');
  });
});
