// Scenario `throughput`: unthrottled producers, direct to the source broker vs through a bare TCP pipe (the floor
// any Node proxy can reach here) vs through the proxy, in the same run, alternating the order every repetition so
// JIT, page-cache and broker warm-up favour none. Medians per path and per-repetition ratios (throughput-report.ts).
import { runningPid, up } from '../../scripts/kafka/testbed.ts';
import { bootstrapOf } from '../../test/support/kafka.ts';
import { listOption, parseOptions } from '../lib/args.ts';
import { startBarePipe, type BarePipe } from '../lib/bare-pipe.ts';
import { startBenchProxy } from '../lib/bench-proxy.ts';
import { watchBrokers } from '../lib/broker-watch.ts';
import { collectEnvironment, environmentLine } from '../lib/environment.ts';
import { cpuSeconds, memoryOf, type ProcSampler } from '../lib/proc.ts';
import { log, sleep } from '../lib/progress.ts';
import { writeResults } from '../lib/report.ts';
import { fmt } from '../lib/stats.ts';
import { benchTopic, createTopics, deleteTopics } from '../lib/topics.ts';
import { CLIENT_KINDS, runClient, type ClientKind, type ClientTuning } from '../clients/run-client.ts';
import { GOAL_ADDED_P99_MS, GOAL_RATIO, renderMarkdown, renderSvg, summarizeClient, type Path, type RunRecord } from './throughput-report.ts';
import type { Scenario } from './scenario.ts';

const options = {
  records: { default: 0, help: 'records per run (0 = per-client defaults, a few seconds each here: java 100000, kafkajs 60000, rdkafka 300000)' },
  size: { default: 1024, help: 'record value size in bytes' },
  reps: { default: 5, help: 'repetitions per client, each one run per path (direct, pipe, proxy; reversed every other repetition); ratios are taken per repetition, ≥ 5 for a useful spread' },
  clients: { default: 1, help: 'producer instances per run (JVMs for java; producers in this process for kafkajs/librdkafka)' },
  only: { default: 'java,kafkajs,rdkafka', help: 'which clients to run, comma-separated' },
  partitions: { default: 6, help: 'partitions of each bench topic' },
  'kafkajs-batch': { default: 20, help: 'kafkajs: records per send() call' },
  'kafkajs-concurrency': { default: 1, help: 'kafkajs: outstanding send() calls per producer (more is unsafe with idempotence, see bench/clients/kafkajs-load.ts)' },
  'rdkafka-window': { default: 10_000, help: 'librdkafka: most records produced but not yet reported' },
  pipe: { default: true, help: 'also run through the bare TCP pipe, the physical-limit reference (--pipe=false to skip)' },
  warmup: { default: true, help: 'send a short untimed burst on every path (direct, pipe, proxy) first (--warmup=false to skip)' },
  'keep-topics': { default: false, help: 'keep the bench topics instead of deleting them afterwards' },
} as const;

const DEFAULT_RECORDS: Record<ClientKind, number> = { java: 100_000, kafkajs: 60_000, rdkafka: 300_000 };

async function run(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(options, argv);
  const clients = listOption('only', opts.only, CLIENT_KINDS);
  const startedAt = new Date();
  const tuning: ClientTuning = {
    kafkajsBatch: opts['kafkajs-batch'],
    kafkajsConcurrency: opts['kafkajs-concurrency'],
    kafkajsTickMs: 10,
    rdkafkaWindow: opts['rdkafka-window'],
  };
  log(`throughput: starting the Kafka pair (if needed), the proxy${opts.pipe ? ' and the bare pipe' : ''}`);
  await up();
  const brokers = watchBrokers();
  const environment = await collectEnvironment();
  const topics = Object.fromEntries(clients.map((c) => [c, benchTopic(`tp-${c}`)])) as Record<ClientKind, string>;
  await createTopics(['source'], Object.values(topics), opts.partitions);
  const bp = await startBenchProxy({ default: 'source', batches: {} });
  let pipe: BarePipe | null = null;
  const brokerPid = runningPid('source');
  const rssIdleMiB = bp.sampler.rssMiB;
  const runs: RunRecord[] = [];
  let hwm = Number.NaN;
  const relayStatus = (name: string, pid: number) => (): string => `${name} RSS ${fmt(memoryOf(pid)?.rssMiB ?? Number.NaN, 0)} MiB`;
  try {
    if (opts.pipe) pipe = await startBarePipe();
    // Where each path connects, and the process between client and broker whose CPU is measured (none for direct).
    const route: Record<Path, { bootstrap: string; relay: { sampler: ProcSampler; status: () => string } | null }> = {
      direct: { bootstrap: bootstrapOf('source'), relay: null },
      pipe: { bootstrap: pipe?.bootstrap ?? '', relay: pipe ? { sampler: pipe.sampler, status: relayStatus('pipe', pipe.pid) } : null },
      proxy: { bootstrap: bp.proxy.bootstrap, relay: { sampler: bp.sampler, status: relayStatus('proxy', bp.pid) } },
    };
    const paths: Path[] = opts.pipe ? ['direct', 'pipe', 'proxy'] : ['direct', 'proxy'];
    if (opts.warmup) {
      // Warms the proxy's and the pipe's JIT and the broker's log/page cache for each topic; not measured.
      for (const path of paths) {
        for (const client of clients.filter((c) => c !== 'java')) {
          await runClient({
            client, bootstrap: route[path].bootstrap, topic: topics[client], size: opts.size,
            mode: { kind: 'closed', records: 5000 }, producers: 1, tuning, label: `warm-up ${client} ${path}`,
          });
        }
      }
    }
    for (const client of clients) {
      const records = opts.records > 0 ? opts.records : DEFAULT_RECORDS[client];
      for (let rep = 1; rep <= opts.reps; rep++) {
        // Reversed every other repetition, so no path is always the one that runs after a given other one.
        for (const path of rep % 2 === 1 ? paths : [...paths].reverse()) {
          const label = `${client} ${path.padEnd(6)} ${rep}/${opts.reps}`;
          const relay = route[path].relay;
          const window = relay?.sampler.begin() ?? null;
          const broker0 = brokerPid === null ? null : cpuSeconds(brokerPid);
          const started = performance.now();
          const outcome = await runClient({
            client,
            bootstrap: route[path].bootstrap,
            topic: topics[client],
            size: opts.size,
            mode: { kind: 'closed', records },
            producers: opts.clients,
            tuning,
            label,
            extraStatus: relay?.status,
          });
          const wall = (performance.now() - started) / 1000;
          const broker1 = brokerPid === null ? null : cpuSeconds(brokerPid);
          const relayWindow = window?.end() ?? null;
          const mib = (outcome.totalAcked * opts.size) / 2 ** 20;
          runs.push({
            client, path, rep, records, mib, outcome, relay: relayWindow,
            brokerCpuPercent: broker0 === null || broker1 === null ? null : (100 * (broker1 - broker0)) / wall,
          });
          log(`${label}: ${fmt(outcome.mibPerSec, 2)} MiB/s, ${fmt(outcome.recordsPerSec, 0)} rec/s, p50 ${fmt(outcome.latency.p50)} ms, p99 ${fmt(outcome.latency.p99)} ms` +
            `${relayWindow ? `, ${path} CPU ${fmt((relayWindow.cpuSeconds * 1000) / mib, 2)} ms/MiB (${fmt(relayWindow.cpuPercent, 0)} %), RSS peak ${fmt(relayWindow.rssPeakMiB, 0)} MiB` : ''}` +
            `${outcome.errors > 0 ? `, ${outcome.errors} errors (${outcome.errorSamples[0] ?? ''})` : ''}`);
          // Lets the broker flush and the relays settle between runs, the same pause for every path.
          await sleep(1000);
        }
      }
    }
  } finally {
    hwm = memoryOf(bp.pid)?.hwmMiB ?? Number.NaN;
    await bp.stop();
    await pipe?.stop();
    if (!opts['keep-topics']) await deleteTopics(['source'], Object.values(topics));
  }
  const summaries = clients.map((c) => summarizeClient(c, runs));
  const settings = { records: opts.records, recordsPerClient: Object.fromEntries(clients.map((c) => [c, opts.records > 0 ? opts.records : DEFAULT_RECORDS[c]])), size: opts.size, reps: opts.reps, clients: opts.clients, partitions: opts.partitions, acks: 'all', idempotence: true, tuning, warmup: opts.warmup, pipe: opts.pipe };
  const proxyRuns = runs.filter((r) => r.path === 'proxy');
  const proxyMemory = { rssIdleMiB, rssPeakMiB: Math.max(...proxyRuns.map((r) => r.relay?.rssPeakMiB ?? 0)), vmHwmMiB: hwm };
  const warning = brokers.restarted();
  const markdown = (warning ? `${warning}\n\n` : '') + renderMarkdown(startedAt, environmentLine(environment), settings, summaries, runs, proxyMemory);
  const svg = renderSvg(startedAt, settings, summaries);
  const files = writeResults('throughput', startedAt, {
    json: { scenario: 'throughput', startedAt: startedAt.toISOString(), environment, brokerPids: brokers.pids, brokerRestartWarning: warning, settings, goals: { minRatio: GOAL_RATIO, maxAddedP99Ms: GOAL_ADDED_P99_MS }, summaries, proxyMemory, runs },
    markdown,
    svg,
  });
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${files.json}, ${files.markdown}, ${files.svg}`);
}

export const throughputScenario: Scenario = {
  name: 'throughput',
  summary: 'max throughput and latency at saturation, direct vs a bare TCP pipe vs proxy, for Java perf, kafkajs and librdkafka',
  options,
  run,
};
