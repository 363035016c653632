// The load harness: `npm run bench -- <scenario> [options]` (see bench/README.md). Each scenario starts what it
// needs (the local Kafka pair, the proxy), prints progress on stderr, and writes bench/results/<scenario>-<date>.*.
import { describeOptions, UsageError } from './lib/args.ts';
import type { Scenario } from './scenarios/scenario.ts';
import { throughputScenario } from './scenarios/throughput.ts';
import { latencyScenario } from './scenarios/latency.ts';
import { flipUnderLoadScenario } from './scenarios/flip-under-load.ts';
import { connectionsScenario } from './scenarios/connections.ts';
import { holdHistoryScenario } from './scenarios/hold-history.ts';
import { fleetScenario } from './scenarios/fleet.ts';
import { writebackScenario } from './scenarios/writeback.ts';

// kafkajs 2.2.4 schedules a timer with a negative delay on every connection (harmless, but Node 24 warns each
// time); keep every other warning visible.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'TimeoutNegativeWarning') process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

const SCENARIOS: readonly Scenario[] = [throughputScenario, latencyScenario, flipUnderLoadScenario, connectionsScenario, holdHistoryScenario, fleetScenario, writebackScenario];

function usage(): string {
  const lines = ['usage: npm run bench -- <scenario> [options]', '', 'scenarios:'];
  for (const s of SCENARIOS) lines.push(`  ${s.name.padEnd(16)} ${s.summary}`);
  lines.push('', 'options per scenario: npm run bench -- <scenario> --help');
  return lines.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (scenario === undefined) {
    process.stderr.write(`unknown scenario "${name}"\n\n${usage()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`npm run bench -- ${scenario.name} [options]\n${scenario.summary}\n\n${describeOptions(scenario.options)}\n`);
    return 0;
  }
  try {
    await scenario.run(rest);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${describeOptions(scenario.options)}\n`);
      return 2;
    }
    process.stderr.write(`[bench] ${scenario.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Client libraries (librdkafka's background threads, kafkajs timers) can keep the loop alive after a run.
process.exit(code);
