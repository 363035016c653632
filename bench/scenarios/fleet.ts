// Scenario `fleet`: the same producer load straight to the source broker, through one kmp instance in fleet mode
// (a fleet of one) and through a fleet of three (docs/fleet.md; control topics on the source cluster). Per client
// and path: saturated throughput (closed loop), latency at a fixed rate (p50/p99, added vs direct), the fleet's
// CPU; per fleet size: a few flips and rollbacks of a wave under a paced load, with each member's hold from the
// flip answers. On a 2-core machine three instances share the cores with the client and both brokers, so a
// fleet shows its cost here more than its scale-out: the results are indicative (bench/README.md).
import { randomUUID } from 'node:crypto';
import { up } from '../../scripts/kafka/testbed.ts';
import { bootstrapOf } from '../../test/support/kafka.ts';
import { admin, fleetView, startFleetMember, waitFor } from '../../test/support/fleet.ts';
import type { RunningProxy } from '../../test/support/proxy.ts';
import { controlTopics } from '../../src/fleet/fleet.ts';
import { listOption, parseOptions } from '../lib/args.ts';
import { watchBrokers } from '../lib/broker-watch.ts';
import { collectEnvironment, environmentLine } from '../lib/environment.ts';
import { ProcSampler } from '../lib/proc.ts';
import { log, sleep } from '../lib/progress.ts';
import { writeResults } from '../lib/report.ts';
import { median } from '../lib/stats.ts';
import { benchTopic, createTopics, deleteTopics } from '../lib/topics.ts';
import { CLIENT_KINDS, runClient, type ClientKind, type ClientRunOutcome, type ClientTuning } from '../clients/run-client.ts';
import { renderFleetMarkdown, renderFleetSvg, type FleetPath, type FleetRun, type FleetSummary, type MoveRecord } from './fleet-report.ts';
import type { Scenario } from './scenario.ts';

const options = {
  instances: { default: '1,3', help: 'fleet sizes to compare, comma-separated (each a fresh fleet with its own control topics)' },
  only: { default: 'java,kafkajs,rdkafka', help: 'which clients to run, comma-separated' },
  records: { default: 0, help: 'records per throughput run; 0 = per client (java 50 000, kafkajs 20 000, librdkafka 100 000)' },
  rate: { default: 1000, help: 'records per second of the latency runs and of the load during flips' },
  seconds: { default: 6, help: 'duration of each latency run' },
  size: { default: 1024, help: 'record value size in bytes' },
  reps: { default: 1, help: 'repetitions of the whole direct / fleet sequence (medians over them)' },
  partitions: { default: 6, help: 'partitions of each bench topic' },
  moves: { default: 4, help: 'flips/rollbacks per fleet size, alternately, under a paced load' },
  interval: { default: 2, help: 'seconds between moves' },
  'lease-ms': { default: 3000, help: 'fleet.leaseMs of the instances' },
  'keep-topics': { default: false, help: 'keep the bench topics instead of deleting them afterwards' },
} as const;

const DEFAULT_RECORDS: Record<ClientKind, number> = { java: 50_000, kafkajs: 20_000, rdkafka: 100_000 };

interface RunningFleet {
  members: RunningProxy[];
  samplers: ProcSampler[];
  prefix: string;
}

async function startFleet(size: number, flipTopic: string, leaseMs: number): Promise<RunningFleet> {
  const prefix = `_kmp-bench-${randomUUID().slice(0, 8)}`;
  const members: RunningProxy[] = [];
  for (let nodeId = 0; nodeId < size; nodeId++) members.push(await startFleetMember({ nodeId, topics: [flipTopic], prefix, leaseMs, flipTimeoutMs: 10_000 }));
  await waitFor(async () => (await Promise.all(members.map(fleetView))).every((v) => v.live.length === size && !v.fenced), 30_000, `${size} live members`);
  return { members, prefix, samplers: members.map((m) => new ProcSampler(m.child.pid ?? -1)) };
}

async function stopFleet(f: RunningFleet): Promise<void> {
  for (const s of f.samplers) s.stop();
  await Promise.all(f.members.map((m) => m.stop()));
}

/** Runs `fn` with a CPU window over every member: the fleet's CPU in % of one core (summed over instances). */
async function withFleetCpu<T>(f: RunningFleet | null, fn: () => Promise<T>): Promise<{ result: T; cpuPercent: number | null }> {
  const windows = f?.samplers.map((s) => s.begin()) ?? [];
  const result = await fn();
  const ends = windows.map((w) => w.end());
  return { result, cpuPercent: ends.length === 0 ? null : ends.reduce((sum, e) => sum + e.cpuPercent, 0) };
}

/** Flips and rolls back the wave `moves` times, through the members in turn, while a paced load runs. */
async function movesUnderLoad(f: RunningFleet, o: { moves: number; intervalS: number }, load: Promise<ClientRunOutcome>): Promise<MoveRecord[]> {
  const out: MoveRecord[] = [];
  await sleep(1_500);
  for (let i = 0; i < o.moves; i++) {
    const action = i % 2 === 0 ? 'flip' : 'rollback';
    const via = f.members[i % f.members.length];
    const startedAt = performance.now();
    const answer = await admin<{ version?: number; members?: { member: string; status: string; holdMs: number | null; heldRequests?: number }[]; error?: { code: string } }>(
      via, 'POST', `/v1/batches/wave-1/${action}`, { reason: `bench fleet move ${i + 1}` });
    out.push({
      index: i + 1,
      action,
      via: i % f.members.length,
      status: answer.status,
      callMs: performance.now() - startedAt,
      members: (answer.json.members ?? []).map((m) => ({ member: m.member, status: m.status, holdMs: m.holdMs, heldRequests: m.heldRequests ?? null })),
      error: answer.json.error?.code ?? null,
    });
    log(`move ${i + 1}/${o.moves} ${action} via kmp-${i % f.members.length}: ${answer.status}, holds ${out.at(-1)!.members.map((m) => `${m.member} ${m.holdMs ?? '–'} ms`).join(', ')}`);
    await sleep(o.intervalS * 1000);
  }
  await load;
  return out;
}

async function run(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(options, argv);
  const clients = listOption('only', opts.only, CLIENT_KINDS);
  const sizes = opts.instances.split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 5)) throw new Error(`--instances: fleet sizes from 1 to 5, got ${opts.instances}`);
  const startedAt = new Date();
  const tuning: ClientTuning = { kafkajsBatch: 20, kafkajsConcurrency: 1, kafkajsTickMs: 10, rdkafkaWindow: 10_000 };
  log('fleet: starting the Kafka pair (if needed)');
  await up();
  const brokers = watchBrokers();
  const environment = await collectEnvironment();
  const loadTopics = Object.fromEntries(clients.map((c) => [c, benchTopic(`fleet-${c}`)])) as Record<ClientKind, string>;
  const flipTopics = Object.fromEntries(sizes.map((n) => [n, benchTopic(`fleet-flip-${n}`)])) as Record<number, string>;
  await createTopics(['source'], Object.values(loadTopics), opts.partitions);
  await createTopics(['source', 'target'], Object.values(flipTopics), opts.partitions);
  // The client that writes during the flips: the first Node client chosen (Java's JVM start would eat the window).
  const flipClient: ClientKind = clients.find((c) => c !== 'java') ?? 'java';
  const paths: FleetPath[] = ['direct', ...sizes.map((n) => `fleet-${n}` as FleetPath)];
  const runs: FleetRun[] = [];
  const moves: Record<string, MoveRecord[]> = {};
  const prefixes: string[] = [];
  try {
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const path of rep % 2 === 1 ? paths : [...paths].reverse()) {
        const size = path === 'direct' ? 0 : Number(path.slice('fleet-'.length));
        const fleet = size === 0 ? null : await startFleet(size, flipTopics[size], opts['lease-ms']);
        if (fleet !== null) prefixes.push(fleet.prefix);
        const bootstrap = fleet === null ? bootstrapOf('source') : fleet.members[0].bootstrap;
        try {
          // An untimed second per Node client: connections, metadata of every instance, JIT.
          for (const client of clients.filter((c) => c !== 'java')) {
            await runClient({ client, bootstrap, topic: loadTopics[client], size: opts.size, mode: { kind: 'paced', rate: opts.rate, seconds: 1 }, producers: 1, tuning, label: `warm-up ${client} ${path}` });
          }
          for (const client of clients) {
            const records = opts.records > 0 ? opts.records : DEFAULT_RECORDS[client];
            const closed = await withFleetCpu(fleet, () => runClient({ client, bootstrap, topic: loadTopics[client], size: opts.size, mode: { kind: 'closed', records }, producers: 1, tuning, label: `${client} ${path} throughput ${rep}/${opts.reps}` }));
            runs.push({ client, path, rep, kind: 'throughput', outcome: closed.result, fleetCpuPercent: closed.cpuPercent });
            await sleep(500);
            const paced = await withFleetCpu(fleet, () => runClient({ client, bootstrap, topic: loadTopics[client], size: opts.size, mode: { kind: 'paced', rate: opts.rate, seconds: opts.seconds }, producers: 1, tuning, label: `${client} ${path} latency ${rep}/${opts.reps}` }));
            runs.push({ client, path, rep, kind: 'latency', outcome: paced.result, fleetCpuPercent: paced.cpuPercent });
            await sleep(500);
          }
          if (fleet !== null && opts.moves > 0) {
            const seconds = 1.5 + opts.moves * (opts.interval + 0.5) + 2;
            const load = runClient({ client: flipClient, bootstrap, topic: flipTopics[size], size: opts.size, mode: { kind: 'paced', rate: opts.rate, seconds }, producers: 1, tuning, label: `${flipClient} ${path} during moves` });
            const done = load.then((outcome) => {
              runs.push({ client: flipClient, path, rep, kind: 'moves', outcome, fleetCpuPercent: null });
              return outcome;
            });
            (moves[`${path} rep ${rep}`] ??= []).push(...(await movesUnderLoad(fleet, { moves: opts.moves, intervalS: opts.interval }, done)));
            // Back to the source for the next repetition, whatever the last move was.
            await admin(fleet.members[0], 'POST', '/v1/rollback-all', { reason: 'bench fleet reset' });
          }
        } finally {
          if (fleet !== null) await stopFleet(fleet);
        }
      }
    }
  } finally {
    if (!opts['keep-topics']) {
      await deleteTopics(['source'], Object.values(loadTopics));
      await deleteTopics(['source', 'target'], Object.values(flipTopics));
      // The fleets' control topics: each bench fleet had its own prefix (they are tiny, but they add up).
      if (prefixes.length > 0) await deleteTopics(['source'], prefixes.flatMap((p) => Object.values(controlTopics(p))));
    }
  }
  const summaries = summarize(clients, paths, runs);
  const settings = { instances: sizes, rate: opts.rate, seconds: opts.seconds, size: opts.size, reps: opts.reps, partitions: opts.partitions, moves: opts.moves, interval: opts.interval, leaseMs: opts['lease-ms'], flipClient, records: Object.fromEntries(clients.map((c) => [c, opts.records > 0 ? opts.records : DEFAULT_RECORDS[c]])), control: 'source', acks: 'all', idempotence: true, tuning };
  const warning = brokers.restarted();
  const markdown = (warning ? `${warning}\n\n` : '') + renderFleetMarkdown(startedAt, environmentLine(environment), settings, summaries, moves, runs);
  const files = writeResults('fleet', startedAt, {
    json: { scenario: 'fleet', startedAt: startedAt.toISOString(), environment, brokerPids: brokers.pids, brokerRestartWarning: warning, settings, summaries, moves, runs },
    markdown,
    svg: renderFleetSvg(startedAt, settings, summaries, moves),
  });
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${files.json}, ${files.markdown}, ${files.svg}`);
}

function summarize(clients: readonly ClientKind[], paths: readonly FleetPath[], runs: readonly FleetRun[]): FleetSummary[] {
  const med = (values: (number | null)[]): number => median(values.filter((v): v is number => v !== null && Number.isFinite(v)));
  return clients.flatMap((client) => paths.map((path) => {
    const of = (kind: FleetRun['kind'], p: FleetPath = path) => runs.filter((r) => r.client === client && r.path === p && r.kind === kind);
    const throughput = of('throughput');
    const latency = of('latency');
    const direct = of('latency', 'direct');
    const p50 = med(latency.map((r) => r.outcome.latency.p50));
    const p99 = med(latency.map((r) => r.outcome.latency.p99));
    return {
      client,
      path,
      recordsPerSec: med(throughput.map((r) => r.outcome.recordsPerSec)),
      mibPerSec: med(throughput.map((r) => r.outcome.mibPerSec)),
      throughputCpuPercent: med(throughput.map((r) => r.fleetCpuPercent)),
      p50,
      p99,
      addedP50Ms: path === 'direct' ? 0 : p50 - med(direct.map((r) => r.outcome.latency.p50)),
      addedP99Ms: path === 'direct' ? 0 : p99 - med(direct.map((r) => r.outcome.latency.p99)),
      latencyUnit: latency[0]?.outcome.latencyUnit ?? 'record',
      errors: [...throughput, ...latency].reduce((n, r) => n + r.outcome.errors, 0),
    };
  }));
}

export const fleetScenario: Scenario = {
  name: 'fleet',
  summary: '1 vs 3 kmp instances (fleet mode): throughput, added p50/p99 latency vs direct, flip hold per member',
  options,
  run,
};
