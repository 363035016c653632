// Scenario `throughput`: unthrottled producers, direct to the source broker vs through the proxy, in the same run,
// alternating direct/proxy so JIT, page-cache and broker warm-up favour neither. Medians over the repetitions.
import { runningPid, up } from '../../scripts/kafka/testbed.ts';
import { bootstrapOf } from '../../test/support/kafka.ts';
import { listOption, parseOptions } from '../lib/args.ts';
import { startBenchProxy } from '../lib/bench-proxy.ts';
import { watchBrokers } from '../lib/broker-watch.ts';
import { collectEnvironment, environmentLine } from '../lib/environment.ts';
import { cpuSeconds, memoryOf, type ProcWindow } from '../lib/proc.ts';
import { log, sleep } from '../lib/progress.ts';
import { FAIL, PASS, table, writeResults } from '../lib/report.ts';
import { fmt, median, round } from '../lib/stats.ts';
import { COLORS, renderChart } from '../lib/svg-chart.ts';
import { benchTopic, createTopics, deleteTopics } from '../lib/topics.ts';
import { CLIENT_KINDS, CLIENT_LABELS, runClient, type ClientKind, type ClientRunOutcome, type ClientTuning } from '../clients/run-client.ts';
import type { Scenario } from './scenario.ts';

const options = {
  records: { default: 0, help: 'records per run (0 = per-client defaults, a few seconds each here: java 100000, kafkajs 60000, rdkafka 300000)' },
  size: { default: 1024, help: 'record value size in bytes' },
  reps: { default: 3, help: 'direct/proxy pairs per client (runs alternate direct, proxy, direct, proxy, …); 3+ gives a real median' },
  clients: { default: 1, help: 'producer instances per run (JVMs for java; producers in this process for kafkajs/librdkafka)' },
  only: { default: 'java,kafkajs,rdkafka', help: 'which clients to run, comma-separated' },
  partitions: { default: 6, help: 'partitions of each bench topic' },
  'kafkajs-batch': { default: 20, help: 'kafkajs: records per send() call' },
  'kafkajs-concurrency': { default: 1, help: 'kafkajs: outstanding send() calls per producer (more is unsafe with idempotence, see bench/clients/kafkajs-load.ts)' },
  'rdkafka-window': { default: 10_000, help: 'librdkafka: most records produced but not yet reported' },
  warmup: { default: true, help: 'send a short untimed burst direct and through the proxy first (--warmup=false to skip)' },
  'keep-topics': { default: false, help: 'keep the bench topics instead of deleting them afterwards' },
} as const;

const DEFAULT_RECORDS: Record<ClientKind, number> = { java: 100_000, kafkajs: 60_000, rdkafka: 300_000 };

const GOAL_RATIO = 0.95;
const GOAL_ADDED_P99_MS = 1;

type Path = 'direct' | 'proxy';

interface RunRecord {
  client: ClientKind;
  path: Path;
  rep: number;
  records: number;
  /** Payload MiB acknowledged in this run. */
  mib: number;
  outcome: ClientRunOutcome;
  /** Proxy process over this run (proxy runs only). */
  proxy: ProcWindow | null;
  /** Source broker CPU over this run, % of one core. */
  brokerCpuPercent: number | null;
}

interface ClientSummary {
  client: ClientKind;
  latencyUnit: string;
  direct: { mibPerSec: number; recordsPerSec: number; p50: number; p99: number };
  proxy: { mibPerSec: number; recordsPerSec: number; p50: number; p99: number };
  ratio: number;
  addedP50Ms: number;
  addedP99Ms: number;
  throughputPass: boolean;
  latencyPass: boolean;
  /**
   * Proxy CPU while forwarding at the measured rate, % of one core: CPU-ms per MiB × MiB/s. (CPU over the whole run
   * window would be diluted by client start-up, e.g. the JVM's.)
   */
  proxyCpuPercent: number;
  /** Proxy CPU milliseconds per MiB forwarded (median over proxy runs). */
  proxyCpuMsPerMiB: number;
  proxyRssPeakMiB: number;
  brokerCpuPercentDirect: number;
  brokerCpuPercentProxy: number;
  errors: number;
}

function summarizeClient(client: ClientKind, runs: RunRecord[]): ClientSummary {
  const of = (path: Path) => runs.filter((r) => r.client === client && r.path === path);
  const side = (path: Path) => {
    const rs = of(path);
    return {
      mibPerSec: median(rs.map((r) => r.outcome.mibPerSec)),
      recordsPerSec: median(rs.map((r) => r.outcome.recordsPerSec)),
      p50: median(rs.map((r) => r.outcome.latency.p50)),
      p99: median(rs.map((r) => r.outcome.latency.p99)),
    };
  };
  const direct = side('direct');
  const proxy = side('proxy');
  const proxyRuns = of('proxy');
  const ratio = proxy.recordsPerSec / direct.recordsPerSec;
  const addedP99Ms = proxy.p99 - direct.p99;
  const proxyCpuMsPerMiB = median(proxyRuns.map((r) => (r.proxy ? (r.proxy.cpuSeconds * 1000) / r.mib : Number.NaN)));
  return {
    client,
    latencyUnit: runs.find((r) => r.client === client)?.outcome.latencyUnit ?? 'record',
    direct,
    proxy,
    ratio,
    addedP50Ms: proxy.p50 - direct.p50,
    addedP99Ms,
    throughputPass: ratio >= GOAL_RATIO,
    latencyPass: addedP99Ms <= GOAL_ADDED_P99_MS,
    proxyCpuPercent: (proxyCpuMsPerMiB * proxy.mibPerSec) / 10,
    proxyCpuMsPerMiB,
    proxyRssPeakMiB: Math.max(...proxyRuns.map((r) => r.proxy?.rssPeakMiB ?? 0)),
    brokerCpuPercentDirect: median(of('direct').map((r) => r.brokerCpuPercent ?? Number.NaN)),
    brokerCpuPercentProxy: median(proxyRuns.map((r) => r.brokerCpuPercent ?? Number.NaN)),
    errors: runs.filter((r) => r.client === client).reduce((n, r) => n + r.outcome.errors, 0),
  };
}

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
  log('throughput: starting the Kafka pair (if needed) and the proxy');
  await up();
  const brokers = watchBrokers();
  const environment = await collectEnvironment();
  const topics = Object.fromEntries(clients.map((c) => [c, benchTopic(`tp-${c}`)])) as Record<ClientKind, string>;
  await createTopics(['source'], Object.values(topics), opts.partitions);
  const bp = await startBenchProxy({ default: 'source', batches: {} });
  const direct = bootstrapOf('source');
  const brokerPid = runningPid('source');
  const rssIdleMiB = bp.sampler.rssMiB;
  const runs: RunRecord[] = [];
  let hwm = Number.NaN;
  const proxyStatus = (): string => {
    const mem = memoryOf(bp.pid);
    return `proxy RSS ${fmt(mem?.rssMiB ?? Number.NaN, 0)} MiB`;
  };
  try {
    if (opts.warmup) {
      // Warms the proxy's JIT and the broker's log/page cache for each topic; not measured.
      for (const path of ['direct', 'proxy'] as const) {
        for (const client of clients.filter((c) => c !== 'java')) {
          await runClient({
            client, bootstrap: path === 'direct' ? direct : bp.proxy.bootstrap, topic: topics[client], size: opts.size,
            mode: { kind: 'closed', records: 5000 }, producers: 1, tuning, label: `warm-up ${client} ${path}`,
          });
        }
      }
    }
    for (const client of clients) {
      const records = opts.records > 0 ? opts.records : DEFAULT_RECORDS[client];
      for (let rep = 1; rep <= opts.reps; rep++) {
        for (const path of ['direct', 'proxy'] as const) {
          const label = `${client} ${path.padEnd(6)} ${rep}/${opts.reps}`;
          const window = path === 'proxy' ? bp.sampler.begin() : null;
          const broker0 = brokerPid === null ? null : cpuSeconds(brokerPid);
          const started = performance.now();
          const outcome = await runClient({
            client,
            bootstrap: path === 'direct' ? direct : bp.proxy.bootstrap,
            topic: topics[client],
            size: opts.size,
            mode: { kind: 'closed', records },
            producers: opts.clients,
            tuning,
            label,
            extraStatus: path === 'proxy' ? proxyStatus : undefined,
          });
          const wall = (performance.now() - started) / 1000;
          const broker1 = brokerPid === null ? null : cpuSeconds(brokerPid);
          const proxyWindow = window?.end() ?? null;
          runs.push({
            client, path, rep, records, mib: (outcome.totalAcked * opts.size) / 2 ** 20, outcome, proxy: proxyWindow,
            brokerCpuPercent: broker0 === null || broker1 === null ? null : (100 * (broker1 - broker0)) / wall,
          });
          log(`${label}: ${fmt(outcome.mibPerSec, 2)} MiB/s, ${fmt(outcome.recordsPerSec, 0)} rec/s, p50 ${fmt(outcome.latency.p50)} ms, p99 ${fmt(outcome.latency.p99)} ms` +
            `${proxyWindow ? `, proxy CPU ${fmt(proxyWindow.cpuPercent, 0)} %, RSS peak ${fmt(proxyWindow.rssPeakMiB, 0)} MiB` : ''}` +
            `${outcome.errors > 0 ? `, ${outcome.errors} errors (${outcome.errorSamples[0] ?? ''})` : ''}`);
          // Lets the broker flush and the proxy settle between runs, the same pause for both paths.
          await sleep(1000);
        }
      }
    }
  } finally {
    hwm = memoryOf(bp.pid)?.hwmMiB ?? Number.NaN;
    await bp.stop();
    if (!opts['keep-topics']) await deleteTopics(['source'], Object.values(topics));
  }
  const summaries = clients.map((c) => summarizeClient(c, runs));
  const settings = { records: opts.records, recordsPerClient: Object.fromEntries(clients.map((c) => [c, opts.records > 0 ? opts.records : DEFAULT_RECORDS[c]])), size: opts.size, reps: opts.reps, clients: opts.clients, partitions: opts.partitions, acks: 'all', idempotence: true, tuning, warmup: opts.warmup };
  const proxyMemory = { rssIdleMiB, rssPeakMiB: Math.max(...runs.map((r) => r.proxy?.rssPeakMiB ?? 0)), vmHwmMiB: hwm };
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

function mark(pass: boolean): string {
  return pass ? PASS : FAIL;
}

function renderMarkdown(
  startedAt: Date, envLine: string, settings: { size: number; reps: number; clients: number; partitions: number; recordsPerClient: Record<string, number> },
  summaries: ClientSummary[], runs: RunRecord[], mem: { rssIdleMiB: number; rssPeakMiB: number; vmHwmMiB: number },
): string {
  const lines: string[] = [];
  lines.push(`# throughput — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
  lines.push(envLine, '');
  lines.push(`${settings.size} B records, acks=all, idempotent, ${settings.partitions} partitions, ${settings.clients} producer(s) per run, ` +
    `${settings.reps} direct/proxy pairs per client (alternating), medians shown. Records per run: ` +
    `${Object.entries(settings.recordsPerClient).map(([c, n]) => `${c} ${n.toLocaleString('en-US')}`).join(', ')}. ` +
    `Goals: proxy ≥ ${GOAL_RATIO} × direct throughput, ≤ ${GOAL_ADDED_P99_MS} ms added p99.`, '');
  lines.push(table(
    ['client', 'direct MiB/s', 'proxy MiB/s', 'direct rec/s', 'proxy rec/s', 'proxy/direct', `≥ ${GOAL_RATIO}`, 'p50 direct → proxy (ms)', 'p99 direct → proxy (ms)', 'added p99 (ms)', `≤ ${GOAL_ADDED_P99_MS} ms`, 'proxy CPU', 'proxy CPU ms/MiB', 'errors'],
    summaries.map((s) => [
      `${CLIENT_LABELS[s.client]}${s.latencyUnit === 'send' ? ' ¹' : ''}`,
      fmt(s.direct.mibPerSec, 2), fmt(s.proxy.mibPerSec, 2), fmt(s.direct.recordsPerSec, 0), fmt(s.proxy.recordsPerSec, 0),
      fmt(s.ratio, 3), mark(s.throughputPass),
      `${fmt(s.direct.p50)} → ${fmt(s.proxy.p50)}`, `${fmt(s.direct.p99)} → ${fmt(s.proxy.p99)}`, fmt(s.addedP99Ms, 1), mark(s.latencyPass),
      `${fmt(s.proxyCpuPercent, 0)} %`, fmt(s.proxyCpuMsPerMiB, 1), String(s.errors),
    ]),
  ));
  lines.push('');
  lines.push(`Proxy process RSS: ${fmt(mem.rssIdleMiB, 0)} MiB idle after start, ${fmt(mem.rssPeakMiB, 0)} MiB peak sampled during the runs, VmHWM ${fmt(mem.vmHwmMiB, 0)} MiB. ` +
    'Proxy CPU (utime+stime from /proc) is given as CPU-ms per MiB forwarded, and as % of one core while forwarding at the ' +
    'measured proxy rate (ms/MiB × MiB/s); the all-runs table also shows CPU over each whole run window, start-up included.', '');
  if (summaries.some((s) => s.latencyUnit === 'send')) lines.push('¹ kafkajs latency is per send() call (a batch of records), not per record.', '');
  lines.push('Latency in this scenario is measured at saturation: it is mostly time spent queued in the client\'s buffer, so the added-p99 mark here ' +
    'mirrors the throughput ratio; the `latency` scenario (fixed rate) is the real test of the 1 ms budget.', '');
  lines.push('<details><summary>All runs</summary>', '');
  lines.push(table(
    ['client', 'path', 'rep', 'records', 'MiB/s', 'rec/s', 'p50', 'p95', 'p99', 'p99.9', 'max', 'proxy CPU (run window)', 'proxy RSS peak', 'broker CPU (run window)', 'errors'],
    runs.map((r) => [
      r.client, r.path, String(r.rep), r.outcome.acked.toLocaleString('en-US'), fmt(r.outcome.mibPerSec, 2), fmt(r.outcome.recordsPerSec, 0),
      fmt(r.outcome.latency.p50), fmt(r.outcome.latency.p95), fmt(r.outcome.latency.p99), fmt(r.outcome.latency.p999), fmt(r.outcome.latency.max),
      r.proxy ? `${fmt(r.proxy.cpuPercent, 0)} %` : '–', r.proxy ? `${fmt(r.proxy.rssPeakMiB, 0)} MiB` : '–',
      r.brokerCpuPercent === null ? '–' : `${fmt(r.brokerCpuPercent, 0)} %`, String(r.outcome.errors),
    ]),
  ));
  lines.push('', '</details>');
  return lines.join('\n');
}

function renderSvg(startedAt: Date, settings: { size: number; reps: number }, summaries: ClientSummary[]): string {
  const categories = summaries.map((s) => CLIENT_LABELS[s.client].replace(' ProducerPerformance', ' perf'));
  return renderChart({
    title: 'kmp throughput: direct to broker vs through the proxy',
    subtitle: `${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${settings.size} B records, acks=all, idempotent · medians of ${settings.reps} alternating runs each`,
    columns: 3,
    panels: [
      {
        kind: 'bars', title: 'Throughput (higher is better)', yLabel: 'MiB/s', categories, decimals: 2,
        series: [
          { name: 'direct', color: COLORS.direct, values: summaries.map((s) => round(s.direct.mibPerSec, 2)) },
          { name: 'proxy', color: COLORS.proxy, values: summaries.map((s) => round(s.proxy.mibPerSec, 2)) },
        ],
      },
      {
        kind: 'bars', title: 'Latency at saturation (lower is better)', yLabel: 'ms (log scale)', categories, scale: 'log', decimals: 1,
        series: [
          { name: 'direct p50', color: COLORS.directLight, values: summaries.map((s) => round(s.direct.p50, 1)) },
          { name: 'proxy p50', color: COLORS.proxyLight, values: summaries.map((s) => round(s.proxy.p50, 1)) },
          { name: 'direct p99', color: COLORS.direct, values: summaries.map((s) => round(s.direct.p99, 1)) },
          { name: 'proxy p99', color: COLORS.proxy, values: summaries.map((s) => round(s.proxy.p99, 1)) },
        ],
      },
      {
        kind: 'bars', title: 'Proxy throughput as a share of direct', yLabel: 'proxy / direct', categories, decimals: 3,
        reference: { value: GOAL_RATIO, label: `goal ≥ ${GOAL_RATIO}` },
        series: [{ name: 'proxy / direct records/s', color: COLORS.green, values: summaries.map((s) => round(s.ratio, 3)) }],
      },
    ],
  });
}

export const throughputScenario: Scenario = {
  name: 'throughput',
  summary: 'max throughput and latency at saturation, direct vs proxy, for Java perf, kafkajs and librdkafka',
  options,
  run,
};
