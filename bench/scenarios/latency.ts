// Scenario `latency`: a fixed, unsaturated rate (default 2000 records/s of 1 KiB, acks=all), so latency is the
// request path rather than time queued in a client buffer; direct vs proxy, alternating, medians over repetitions.
// This is where the "≤ 1 ms added p99" budget is judged.
import { up } from '../../scripts/kafka/testbed.ts';
import { bootstrapOf } from '../../test/support/kafka.ts';
import { listOption, parseOptions } from '../lib/args.ts';
import { startBenchProxy } from '../lib/bench-proxy.ts';
import { watchBrokers } from '../lib/broker-watch.ts';
import { collectEnvironment, environmentLine } from '../lib/environment.ts';
import { memoryOf, type ProcWindow } from '../lib/proc.ts';
import { log, sleep } from '../lib/progress.ts';
import { FAIL, PASS, table, writeResults } from '../lib/report.ts';
import { fmt, median, round } from '../lib/stats.ts';
import { COLORS, renderChart, type Panel } from '../lib/svg-chart.ts';
import { benchTopic, createTopics, deleteTopics } from '../lib/topics.ts';
import { CLIENT_KINDS, CLIENT_LABELS, runClient, type ClientKind, type ClientRunOutcome, type ClientTuning } from '../clients/run-client.ts';
import type { Scenario } from './scenario.ts';

const options = {
  rate: { default: 2000, help: 'records per second (all producers of a run together)' },
  seconds: { default: 5, help: 'duration of each run' },
  size: { default: 1024, help: 'record value size in bytes' },
  reps: { default: 3, help: 'direct/proxy pairs per client (alternating); 3+ gives a real median' },
  clients: { default: 1, help: 'producer instances per run (JVMs for java)' },
  only: { default: 'java,kafkajs,rdkafka', help: 'which clients to run, comma-separated' },
  partitions: { default: 6, help: 'partitions of each bench topic' },
  'kafkajs-tick': { default: 10, help: 'kafkajs: records become due in ticks of this many ms; a send carries all due records once the previous send is answered' },
  'keep-topics': { default: false, help: 'keep the bench topics instead of deleting them afterwards' },
} as const;

const GOAL_ADDED_P99_MS = 1;
const PERCENTILES = [
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
  ['max', 'max'],
] as const;

type Path = 'direct' | 'proxy';
type Pct = (typeof PERCENTILES)[number][0];

interface RunRecord {
  client: ClientKind;
  path: Path;
  rep: number;
  outcome: ClientRunOutcome;
  proxy: ProcWindow | null;
}

interface ClientSummary {
  client: ClientKind;
  latencyUnit: string;
  direct: Record<Pct, number | null> & { recordsPerSec: number };
  proxy: Record<Pct, number | null> & { recordsPerSec: number };
  addedP50Ms: number;
  addedP99Ms: number;
  latencyPass: boolean;
  proxyCpuPercent: number;
  errors: number;
}

function summarizeClient(client: ClientKind, runs: RunRecord[]): ClientSummary {
  const side = (path: Path) => {
    const rs = runs.filter((r) => r.client === client && r.path === path);
    const out = { recordsPerSec: median(rs.map((r) => r.outcome.recordsPerSec)) } as Record<Pct, number | null> & { recordsPerSec: number };
    for (const [key] of PERCENTILES) {
      const values = rs.map((r) => r.outcome.latency[key]).filter((v): v is number => v !== null);
      out[key] = values.length === 0 ? null : median(values);
    }
    return out;
  };
  const direct = side('direct');
  const proxy = side('proxy');
  const addedP99Ms = (proxy.p99 ?? Number.NaN) - (direct.p99 ?? Number.NaN);
  const proxyRuns = runs.filter((r) => r.client === client && r.path === 'proxy');
  return {
    client,
    latencyUnit: runs.find((r) => r.client === client)?.outcome.latencyUnit ?? 'record',
    direct,
    proxy,
    addedP50Ms: (proxy.p50 ?? Number.NaN) - (direct.p50 ?? Number.NaN),
    addedP99Ms,
    latencyPass: addedP99Ms <= GOAL_ADDED_P99_MS,
    proxyCpuPercent: median(proxyRuns.map((r) => r.proxy?.cpuPercent ?? Number.NaN)),
    errors: runs.filter((r) => r.client === client).reduce((n, r) => n + r.outcome.errors, 0),
  };
}

async function run(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(options, argv);
  const clients = listOption('only', opts.only, CLIENT_KINDS);
  const startedAt = new Date();
  const tuning: ClientTuning = { kafkajsBatch: 20, kafkajsConcurrency: 1, kafkajsTickMs: opts['kafkajs-tick'], rdkafkaWindow: 10_000 };
  log('latency: starting the Kafka pair (if needed) and the proxy');
  await up();
  const brokers = watchBrokers();
  const environment = await collectEnvironment();
  const topics = Object.fromEntries(clients.map((c) => [c, benchTopic(`lat-${c}`)])) as Record<ClientKind, string>;
  await createTopics(['source'], Object.values(topics), opts.partitions);
  const bp = await startBenchProxy({ default: 'source', batches: {} });
  const direct = bootstrapOf('source');
  const runs: RunRecord[] = [];
  let hwm = Number.NaN;
  try {
    // An untimed second at the same rate on each path: connections, metadata, JIT.
    for (const client of clients.filter((c) => c !== 'java')) {
      for (const path of ['direct', 'proxy'] as const) {
        await runClient({ client, bootstrap: path === 'direct' ? direct : bp.proxy.bootstrap, topic: topics[client], size: opts.size, mode: { kind: 'paced', rate: opts.rate, seconds: 1 }, producers: 1, tuning, label: `warm-up ${client} ${path}` });
      }
    }
    for (const client of clients) {
      for (let rep = 1; rep <= opts.reps; rep++) {
        for (const path of ['direct', 'proxy'] as const) {
          const label = `${client} ${path.padEnd(6)} ${rep}/${opts.reps}`;
          const window = path === 'proxy' ? bp.sampler.begin() : null;
          const outcome = await runClient({
            client,
            bootstrap: path === 'direct' ? direct : bp.proxy.bootstrap,
            topic: topics[client],
            size: opts.size,
            mode: { kind: 'paced', rate: opts.rate, seconds: opts.seconds },
            producers: opts.clients,
            tuning,
            label,
            extraStatus: path === 'proxy' ? () => `proxy RSS ${fmt(memoryOf(bp.pid)?.rssMiB ?? Number.NaN, 0)} MiB` : undefined,
          });
          const proxyWindow = window?.end() ?? null;
          runs.push({ client, path, rep, outcome, proxy: proxyWindow });
          log(`${label}: ${fmt(outcome.recordsPerSec, 0)} rec/s, p50 ${fmt(outcome.latency.p50)} ms, p99 ${fmt(outcome.latency.p99)} ms, p99.9 ${fmt(outcome.latency.p999)} ms, max ${fmt(outcome.latency.max)} ms` +
            `${proxyWindow ? `, proxy CPU ${fmt(proxyWindow.cpuPercent, 0)} %` : ''}${outcome.errors > 0 ? `, ${outcome.errors} errors` : ''}`);
          await sleep(500);
        }
      }
    }
  } finally {
    hwm = memoryOf(bp.pid)?.hwmMiB ?? Number.NaN;
    await bp.stop();
    if (!opts['keep-topics']) await deleteTopics(['source'], Object.values(topics));
  }
  const summaries = clients.map((c) => summarizeClient(c, runs));
  const settings = { rate: opts.rate, seconds: opts.seconds, tick: opts['kafkajs-tick'], size: opts.size, reps: opts.reps, clients: opts.clients, partitions: opts.partitions, acks: 'all', idempotence: true, tuning };
  const warning = brokers.restarted();
  const markdown = (warning ? `${warning}\n\n` : '') + renderMarkdown(startedAt, environmentLine(environment), settings, summaries, runs, hwm);
  const svg = renderSvg(startedAt, settings, summaries);
  const files = writeResults('latency', startedAt, {
    json: { scenario: 'latency', startedAt: startedAt.toISOString(), environment, brokerPids: brokers.pids, brokerRestartWarning: warning, settings, goals: { maxAddedP99Ms: GOAL_ADDED_P99_MS }, summaries, proxyVmHwmMiB: hwm, runs },
    markdown,
    svg,
  });
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${files.json}, ${files.markdown}, ${files.svg}`);
}

function renderMarkdown(startedAt: Date, envLine: string, settings: { rate: number; seconds: number; tick: number; size: number; reps: number; clients: number }, summaries: ClientSummary[], runs: RunRecord[], hwm: number): string {
  const lines: string[] = [];
  lines.push(`# latency — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
  lines.push(envLine, '');
  lines.push(`${settings.rate.toLocaleString('en-US')} records/s × ${settings.seconds} s per run, ${settings.size} B records, acks=all, idempotent, ` +
    `${settings.clients} producer(s), ${settings.reps} direct/proxy pairs per client (alternating), medians shown. Latency counts from when a record was due ` +
    `(open loop). Goal: ≤ ${GOAL_ADDED_P99_MS} ms added p99.`, '');
  const cell = (v: number | null) => fmt(v, 1);
  lines.push(table(
    ['client', 'path', 'rec/s', 'p50', 'p90', 'p99', 'p99.9', 'max'],
    summaries.flatMap((s) => (['direct', 'proxy'] as const).map((path) => {
      const v = s[path];
      return [`${CLIENT_LABELS[s.client]}${s.latencyUnit === 'tick' ? ' ¹' : ''}`, path, fmt(v.recordsPerSec, 0), cell(v.p50), cell(v.p90), cell(v.p99), cell(v.p999), cell(v.max)];
    })),
  ));
  lines.push('');
  lines.push(table(
    ['client', 'added p50 (ms)', 'added p99 (ms)', `≤ ${GOAL_ADDED_P99_MS} ms`, 'proxy CPU', 'errors'],
    summaries.map((s) => [CLIENT_LABELS[s.client], fmt(s.addedP50Ms, 2), fmt(s.addedP99Ms, 2), s.latencyPass ? PASS : FAIL, `${fmt(s.proxyCpuPercent, 0)} %`, String(s.errors)]),
  ));
  lines.push('', `All latencies in ms. Proxy VmHWM (peak RSS) ${fmt(hwm, 0)} MiB. Java ProducerPerformance reports whole milliseconds and no p90.`);
  if (summaries.some((s) => s.latencyUnit === 'tick')) lines.push('', `¹ kafkajs: one sample per tick (the records due in one ${settings.tick} ms tick), from the tick's scheduled time to the answer of the send that carried them.`);
  lines.push('', '<details><summary>All runs</summary>', '');
  lines.push(table(
    ['client', 'path', 'rep', 'acked', 'rec/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'proxy CPU', 'errors'],
    runs.map((r) => [r.client, r.path, String(r.rep), r.outcome.acked.toLocaleString('en-US'), fmt(r.outcome.recordsPerSec, 0), fmt(r.outcome.latency.p50), fmt(r.outcome.latency.p90),
      fmt(r.outcome.latency.p99), fmt(r.outcome.latency.p999), fmt(r.outcome.latency.max), r.proxy ? `${fmt(r.proxy.cpuPercent, 0)} %` : '–', String(r.outcome.errors)]),
  ));
  lines.push('', '</details>');
  return lines.join('\n');
}

function renderSvg(startedAt: Date, settings: { rate: number; seconds: number; size: number; reps: number }, summaries: ClientSummary[]): string {
  const panels: Panel[] = summaries.map((s) => {
    const keys = PERCENTILES.filter(([k]) => s.direct[k] !== null || s.proxy[k] !== null);
    return {
      kind: 'bars',
      title: `${CLIENT_LABELS[s.client]}${s.latencyUnit === 'tick' ? ' (per tick)' : ''}`,
      yLabel: 'latency, ms (log scale)',
      scale: 'log',
      categories: keys.map(([, label]) => label),
      decimals: 1,
      series: [
        { name: 'direct', color: COLORS.direct, values: keys.map(([k]) => (s.direct[k] === null ? null : round(s.direct[k] as number, 1))) },
        { name: 'proxy', color: COLORS.proxy, values: keys.map(([k]) => (s.proxy[k] === null ? null : round(s.proxy[k] as number, 1))) },
      ],
    };
  });
  return renderChart({
    title: 'kmp latency at a fixed rate: direct to broker vs through the proxy',
    subtitle: `${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${settings.rate} records/s × ${settings.seconds} s, ${settings.size} B, acks=all · medians of ${settings.reps} alternating runs`,
    columns: 3,
    panels,
  });
}

export const latencyScenario: Scenario = {
  name: 'latency',
  summary: 'p50/p90/p99/p99.9/max at a fixed rate (default 2000 records/s), direct vs proxy',
  options,
  run,
};
