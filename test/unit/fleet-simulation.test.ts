// The fleet's move protocol under deterministic simulation (test/sim/): the real coordinator, participants and
// barriers over a simulated clock and network, with pauses, partitions, crashes, loss and redelivery drawn from
// fast-check. A failing schedule prints its seed; replay it with `node test/sim/replay.ts <seed> <members>
// <faultEveryMs> <lossRate>`. SIM_RUNS=3000 runs more schedules; SIM_FC_SEED changes fast-check's own seed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_ACTIVE_MS, DEFAULT_FLEET, DEFAULT_SETTLE_MS, simulate, type SimOptions, type SimReport } from '../sim/world.ts';

const RUNS = Number(process.env.SIM_RUNS ?? 200);
const FC_SEED = Number(process.env.SIM_FC_SEED ?? 20_260_512);
const ACTIVE_MS = DEFAULT_ACTIVE_MS;
const SETTLE_MS = DEFAULT_SETTLE_MS;

/**
 * Found by this simulation and not fixed yet: counted and printed, but they do not fail the property. Empty now;
 * every kind fails it (stale-forward, append-off-route and interleaved included: the fleet's fencing, the
 * coordinator's commit re-check and the participant's ordering of prepares must keep a partition on one cluster at
 * a time; duplicated too since the new route's guard, routing/fleet/new-route-guard.ts).
 */
const KNOWN_OPEN = new Set<string>();

const scheduleArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  members: fc.integer({ min: 2, max: 4 }),
  faultEveryMs: fc.constantFrom(0, 800, 1_500, 3_000),
  lossRate: fc.constantFrom(0, 0.02, 0.05, 0.1),
});

function options(s: { seed: number; members: number; faultEveryMs: number; lossRate: number }): SimOptions {
  return { ...s, activeMs: ACTIVE_MS, settleMs: SETTLE_MS };
}

function replayHint(o: SimOptions): string {
  return `replay: node test/sim/replay.ts ${o.seed} ${o.members} ${o.faultEveryMs} ${o.lossRate}`;
}

describe('fleet simulation (deterministic, seeded)', () => {
  it('a seed replays exactly', async () => {
    const o = options({ seed: 424_242, members: 3, faultEveryMs: 1_000, lossRate: 0.05 });
    const [a, b] = [await simulate(o), await simulate(o)];
    assert.deepEqual(a, b);
    assert.ok(a.steps > 1_000 && a.acked > 0 && a.commits > 0, `a schedule that does something: ${JSON.stringify(a.flips)}`);
  });

  it(`${RUNS} schedules: no unexpected invariant violation, every committed move applied, nothing stuck`, async () => {
    const totals = { schedules: 0, steps: 0, writes: 0, acked: 0, commits: 0, faults: 0, known: new Map<string, string[]>() };
    await fc.assert(
      fc.asyncProperty(scheduleArb, async (s) => {
        const o = options(s);
        const report: SimReport = await simulate(o);
        totals.schedules += 1;
        totals.steps += report.steps;
        totals.writes += report.writes;
        totals.acked += report.acked;
        totals.commits += report.commits;
        totals.faults += Object.entries(report.faults).reduce((n, [k, v]) => (k === 'healed' ? n : n + v), 0);
        for (const v of report.violations) {
          if (!KNOWN_OPEN.has(v.kind)) continue;
          const seeds = totals.known.get(v.kind) ?? [];
          if (!seeds.includes(replayHint(o))) seeds.push(replayHint(o));
          totals.known.set(v.kind, seeds);
        }
        const unexpected = report.violations.filter((v) => !KNOWN_OPEN.has(v.kind));
        assert.deepEqual(unexpected, [], `${replayHint(o)}\n${JSON.stringify(unexpected, null, 1)}`);
      }),
      { numRuns: RUNS, seed: FC_SEED, endOnFailure: true },
    );
    const known = [...totals.known].map(([kind, seeds]) => `${kind}: ${seeds.length} schedule(s), e.g. ${seeds[0]}`);
    console.log(`fleet simulation: ${totals.schedules} schedules, ${totals.steps} steps, ${totals.faults} faults, ${totals.writes} writes (${totals.acked} acknowledged), ${totals.commits} commits; known open: ${known.join('; ') || 'none'}`);
    assert.ok(totals.commits > RUNS, 'moves commit in most schedules');
  });

  it('regression: a redelivered prepare no longer leaves a member holding forever (failed before the participant fix)', async () => {
    // Seed 1, no faults, redelivery on: the participant started a second hold for a repeated prepare, dropped the
    // first from its map, and the first hold waited for a decision forever ("stuck").
    const report = await simulate({ seed: 1, members: 3, activeMs: 8_000, settleMs: 12_000, faultEveryMs: 0, lossRate: 0 });
    assert.deepEqual(report.violations, []);
    assert.ok((report.stats.redeliveries ?? 0) > 0 && report.commits > 0);
  });

  it('regression: a move aborted at its deadline before any prepared arrived releases every member (failed before the coordinator fix)', async () => {
    // Seed 1462706046: m1 coordinates while cut off from the control cluster; no prepared reaches it by timeoutMs
    // + grace, and it aborted without sending abort (it sent one only when some prepared had arrived), so its own
    // participant, which had prepared, held orders' writes forever (stuck).
    const report = await simulate(options({ seed: 1_462_706_046, members: 3, faultEveryMs: 3_000, lossRate: 0 }));
    assert.deepEqual(report.violations, []);
  });

  it('regression: a restarted member that reads a prepare right after the previous move\'s commit holds for it (failed before the participant fix)', async () => {
    // Seed 22: m1 restarts and reads, in one poll, the commit of move 2 and the prepare of move 4. Its barrier was
    // still releasing move 2, so move 4's prepare failed there as a conflicting move; the coordinator had not asked
    // m1 (it was down at the start) and ignored the failure, and m1 forwarded on the old route while move 4
    // committed (append-off-route). Now a prepare waits for a move already decided on that member.
    const report = await simulate(options({ seed: 22, members: 4, faultEveryMs: 1_500, lossRate: 0.02 }));
    assert.deepEqual(report.violations, []);
    assert.ok(report.commits >= 3);
  });

  it('regression: a retry through the new route of a write the old cluster appended for a gone member is answered, not appended again (failed before the new-route guard)', async () => {
    // Seed 113149486 (3 members, faults every 1.5 s, 5 % loss): m2#0 appends write 116 on the source and is cut
    // off before the client hears; the move of its topic commits without m2 after its lease; the client's retry
    // reaches the target through m1 under a fresh upstream producer id: the write was on both clusters. (The issue's
    // seed 1731690661 played this out before the simulation grew the blocking and orphan rules; its schedule has
    // changed since.) Without the guard the same schedule still shows it.
    const o = options({ seed: 113_149_486, members: 3, faultEveryMs: 1_500, lossRate: 0.05 });
    const without = await simulate({ ...o, fleet: { newRouteGuard: false } });
    assert.deepEqual(without.violations.map((v) => v.kind), ['duplicated']);
    const report = await simulate(o);
    assert.deepEqual(report.violations, []);
    assert.ok((report.stats['newRoute-duplicate'] ?? 0) > 0, 'the guard answered a retry the old cluster had appended');
  });

  it('the checker catches a fleet without the new-route guard (a write on both clusters after a move without a member)', async () => {
    let found = 0;
    for (let seed = 0; seed < 200 && found === 0; seed++) {
      const report = await simulate({ ...options({ seed, members: 4, faultEveryMs: 1_500, lossRate: 0.05 }), fleet: { newRouteGuard: false } });
      if (report.violations.some((v) => v.kind === 'duplicated')) found = seed + 1;
    }
    assert.ok(found > 0, 'expected a duplicated write without the guard');
  });

  it('a coordinator killed between prepare and decision: the others release within a lease (plus a poll), long before flipTimeoutMs', async () => {
    // m0 flips wave-a and is killed once both others hold. Before the orphan resolver (routing/fleet/orphan-
    // resolver.ts) the Kafka runtime held those partitions until an instance restarted.
    const lease = DEFAULT_FLEET.leaseMs + DEFAULT_FLEET.skewMarginMs;
    const released: number[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const report = await simulate({ seed, members: 3, activeMs: 12_000, settleMs: 6_000, faultEveryMs: 0, lossRate: 0, coordinatorCrashAtMs: 1_000 });
      assert.deepEqual(report.violations, [], `seed ${seed}`);
      assert.equal(report.stats.coordinatorCrashHolders, 2, 'both survivors held for the move when its coordinator died');
      const ms = report.stats.coordinatorCrashReleaseMs;
      assert.ok(ms !== undefined, `seed ${seed}: the survivors released`);
      released.push(ms);
    }
    console.log(`coordinator killed mid-move: survivors released after ${released.join(', ')} ms (lease + skew ${lease} ms, flipTimeoutMs ${DEFAULT_FLEET.flipTimeoutMs} ms)`);
    for (const ms of released) {
      assert.ok(ms >= lease - DEFAULT_FLEET.skewMarginMs, `not before the coordinator can count as gone (${ms} ms)`);
      assert.ok(ms <= lease + 3 * DEFAULT_FLEET.pollMs, `within a lease and a few polls (${ms} ms)`);
      assert.ok(ms < DEFAULT_FLEET.flipTimeoutMs);
    }
  });

  it('the checker catches a fleet without lease fencing (writes on the old route after a move committed without a member)', async () => {
    const kinds = new Set<string>();
    for (let seed = 0; seed < 40 && !kinds.has('stale-forward'); seed++) {
      const report = await simulate({ ...options({ seed, members: 3, faultEveryMs: 1_000, lossRate: 0.02 }), fleet: { fenceOnLease: false } });
      for (const v of report.violations) kinds.add(v.kind);
    }
    assert.ok(kinds.has('stale-forward'), `expected stale forwards without fencing, saw ${[...kinds].join(', ')}`);
  });

  it('the checker catches a fleet that checks its lease only at admission (a held write released after the lease ran out)', async () => {
    // The new-route guard is off here: it re-checks a held write released onto a new route and turns most of those
    // away (a retriable error), which hides the lapsed lease this test wants the checker to see.
    const kinds = new Set<string>();
    for (let seed = 0; seed < 80 && !kinds.has('stale-forward'); seed++) {
      const report = await simulate({ ...options({ seed, members: 3, faultEveryMs: 800, lossRate: 0.02 }), fleet: { checkFenceBeforeSend: false, newRouteGuard: false } });
      for (const v of report.violations) kinds.add(v.kind);
    }
    assert.ok(kinds.has('stale-forward') || kinds.has('append-off-route'), `expected writes on the old route, saw ${[...kinds].join(', ')}`);
  });
});
