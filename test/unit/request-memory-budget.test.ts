// RequestMemoryBudget: pressure is signalled once when the total reaches the budget, availability once when it
// drops below; releases never go negative; 0 disables the limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestMemoryBudget } from '../../src/proxy/request-memory-budget.ts';

test('pressure at the budget, availability below it, one signal per crossing', () => {
  const budget = new RequestMemoryBudget(100);
  const events: string[] = [];
  const unsubscribe = budget.subscribe({ onMemoryPressure: () => events.push('pressure'), onMemoryAvailable: () => events.push('available') });
  budget.charge(60);
  assert.deepEqual(events, []);
  budget.charge(40);
  budget.charge(500); // one frame may overshoot: charges are never refused, only reading pauses
  assert.deepEqual(events, ['pressure']);
  assert.equal(budget.usedBytes, 600);
  budget.release(500);
  assert.deepEqual(events, ['pressure'], 'still at the budget');
  budget.release(1);
  assert.deepEqual(events, ['pressure', 'available']);
  budget.release(1_000);
  assert.equal(budget.usedBytes, 0);
  unsubscribe();
  budget.charge(200);
  assert.deepEqual(events, ['pressure', 'available'], 'an unsubscribed listener hears nothing');
  assert.equal(budget.exhausted, true);
});

test('0 disables the limit; bad limits are refused', () => {
  const open = new RequestMemoryBudget(0);
  open.charge(1e12);
  assert.equal(open.exhausted, false);
  assert.throws(() => new RequestMemoryBudget(-1), /non-negative integer/);
});
