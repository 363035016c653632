// Replays one schedule and prints its report: node test/sim/replay.ts <seed> [members] [faultEveryMs] [lossRate]
// SIM_FLEET='{"redeliveryRate":0}' overrides fleet rules (member.ts FleetRules).
import { DEFAULT_ACTIVE_MS, DEFAULT_SETTLE_MS, simulate } from './world.ts';

const [seed = '1', members = '3', faultEveryMs = '1500', lossRate = '0.05'] = process.argv.slice(2);
const report = await simulate({
  seed: Number(seed), members: Number(members), activeMs: DEFAULT_ACTIVE_MS, settleMs: DEFAULT_SETTLE_MS,
  faultEveryMs: Number(faultEveryMs), lossRate: Number(lossRate),
  fleet: JSON.parse(process.env.SIM_FLEET ?? '{}'),
});
console.log(JSON.stringify(report, null, 2));
