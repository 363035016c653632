// Replays one schedule and prints its report: node test/sim/replay.ts <seed> [members] [faultEveryMs] [lossRate]
// SIM_FLEET='{"redeliveryRate":0}' overrides fleet rules (member.ts FleetRules).
import { simulate } from './world.ts';

const [seed = '1', members = '3', faultEveryMs = '1500', lossRate = '0.05'] = process.argv.slice(2);
const report = await simulate({
  seed: Number(seed), members: Number(members), activeMs: 8_000, settleMs: 12_000,
  faultEveryMs: Number(faultEveryMs), lossRate: Number(lossRate),
  fleet: JSON.parse(process.env.SIM_FLEET ?? '{}'),
});
console.log(JSON.stringify(report, null, 2));
