// Counts violations by kind over many schedules, drawn as the property test draws them (same fast-check seed and
// arbitrary), without stopping at the first: the before/after figures of a fix.
//   node test/sim/census.ts [runs] ['{"newRouteGuard":false}']
import fc from 'fast-check';
import { DEFAULT_ACTIVE_MS, DEFAULT_SETTLE_MS, simulate } from './world.ts';

const runs = Number(process.argv[2] ?? 200);
const fleet = JSON.parse(process.argv[3] ?? '{}') as Record<string, unknown>;
const FC_SEED = Number(process.env.SIM_FC_SEED ?? 20_260_512);
const scheduleArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  members: fc.integer({ min: 2, max: 4 }),
  faultEveryMs: fc.constantFrom(0, 800, 1_500, 3_000),
  lossRate: fc.constantFrom(0, 0.02, 0.05, 0.1),
});
const byKind: Record<string, number> = {};
const schedulesWith: Record<string, number> = {};
const totals = { schedules: 0, writes: 0, acked: 0, commits: 0 };
const stats: Record<string, number> = {};
const examples: Record<string, string[]> = {};
for (const s of fc.sample(scheduleArb, { numRuns: runs, seed: FC_SEED })) {
  const r = await simulate({ ...s, activeMs: DEFAULT_ACTIVE_MS, settleMs: DEFAULT_SETTLE_MS, fleet });
  totals.schedules += 1;
  totals.writes += r.writes;
  totals.acked += r.acked;
  totals.commits += r.commits;
  for (const [k, v] of Object.entries(r.stats)) stats[k] = (stats[k] ?? 0) + v;
  const kinds = new Set<string>();
  for (const v of r.violations) {
    byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
    kinds.add(v.kind);
  }
  for (const k of kinds) {
    schedulesWith[k] = (schedulesWith[k] ?? 0) + 1;
    const list = (examples[k] ??= []);
    if (list.length < 5) list.push(`node test/sim/replay.ts ${s.seed} ${s.members} ${s.faultEveryMs} ${s.lossRate}`);
  }
}
console.log(JSON.stringify({ fleet, ...totals, violations: byKind, schedulesWith, examples, stats }, null, 1));
