import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { partitionOwner, rendezvousOwner } from '../../routing/fleet/rendezvous.ts';
import { LeaseTable, OwnLease } from '../../routing/fleet/leases.ts';

const members = (n: number) => Array.from({ length: n }, (_, i) => `kmp-${i}`);

test('rendezvous: every member computes the same owner, whatever the order of the live set', () => {
  fc.assert(fc.property(fc.shuffledSubarray(members(6), { minLength: 1 }), fc.string(), fc.nat(100), (live, topic, p) => {
    const a = partitionOwner(live, topic, p);
    const b = partitionOwner([...live].reverse(), topic, p);
    assert.equal(a, b);
    assert.ok(a !== null && live.includes(a));
  }));
  assert.equal(rendezvousOwner([], 'x'), null);
});

test('rendezvous: a member leaving moves only the partitions it owned; one joining takes only about 1/N', () => {
  const three = members(3);
  const four = members(4);
  let movedOnJoin = 0;
  let movedOnLeave = 0;
  const total = 3000;
  for (let p = 0; p < total; p++) {
    const before = partitionOwner(three, 'orders', p)!;
    const joined = partitionOwner(four, 'orders', p)!;
    if (before !== joined) {
      movedOnJoin++;
      assert.equal(joined, 'kmp-3', 'a partition only moves to the joining member');
    }
    const left = partitionOwner(['kmp-0', 'kmp-2'], 'orders', p)!;
    if (before !== left) {
      movedOnLeave++;
      assert.equal(before, 'kmp-1', 'only the leaving member\'s partitions move');
    }
  }
  // Expected 1/4 and 1/3 of the partitions; allow for the spread of a hash.
  assert.ok(movedOnJoin > total * 0.18 && movedOnJoin < total * 0.32, `moved on join: ${movedOnJoin}`);
  assert.ok(movedOnLeave > total * 0.26 && movedOnLeave < total * 0.40, `moved on leave: ${movedOnLeave}`);
});

test('leases: a member fences itself before any other member may count it gone', () => {
  fc.assert(fc.property(fc.integer({ min: 100, max: 10_000 }), fc.double({ min: 0, max: 0.49, noNaN: true }), fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 20_000 }),
    (leaseMs, skewFraction, delivery, later) => {
      const opts = { leaseMs, skewMarginMs: Math.floor(leaseMs * skewFraction) };
      const own = new OwnLease(opts);
      const table = new LeaseTable(opts);
      const sentAt = 1_000;
      own.renewed(sentAt);
      // The other member hears the heartbeat `delivery` ms after it was sent (its clock may be anywhere; only
      // intervals on each clock matter, and both run at the same rate within the skew margin).
      table.heard('a', sentAt + delivery);
      const t = sentAt + later;
      if (!table.isLive('a', t + delivery)) assert.ok(own.isFenced(t), 'counted gone while still forwarding');
    }));
});

test('leases: live set, leaving, and renewal', () => {
  const opts = { leaseMs: 1000, skewMarginMs: 200 };
  const table = new LeaseTable(opts);
  table.heard('b', 0);
  table.heard('a', 100);
  assert.deepEqual(table.live(500), ['a', 'b']);
  assert.deepEqual(table.live(1250), ['a']);
  assert.equal(table.goneAfter('a'), 1300);
  table.left('a');
  assert.deepEqual(table.live(1250), []);
  const own = new OwnLease(opts);
  assert.equal(own.isFenced(0), true, 'fenced until the first renewal');
  own.renewed(0);
  assert.equal(own.isFenced(799), false);
  assert.equal(own.isFenced(800), true);
  assert.throws(() => new LeaseTable({ leaseMs: 1000, skewMarginMs: 500 }), /below leaseMs/);
});
