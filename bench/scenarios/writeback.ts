// Scenario `writeback` (issue #13): what write-back costs kmp, and how far the copy trails under load.
// One kmp process, two topics flipped to the target: one in a wave with write-back on, one in a wave with it
// off. The same paced load (Java ProducerPerformance, its own JVM, so no client CPU is counted in kmp) goes to
// each in turn, alternating the order every repetition. kmp's CPU is measured over each run, from the first
// record until the copy has caught up (lag 0), so the copy's tail is counted. The cost of the copy per GiB is
// (CPU with write-back − CPU without) / GiB copied (kmp_writeback_copied_bytes_total); the lag
// (kmp_writeback_lag_records / _seconds) is sampled every 100 ms during the write-back runs.
import { up } from '../../scripts/kafka/testbed.ts';
import { parseOptions } from '../lib/args.ts';
import { startBenchProxy, type BenchProxy } from '../lib/bench-proxy.ts';
import { watchBrokers } from '../lib/broker-watch.ts';
import { collectEnvironment, environmentLine } from '../lib/environment.ts';
import { log, sleep } from '../lib/progress.ts';
import { table, writeResults } from '../lib/report.ts';
import { fmt, median, round, summarize } from '../lib/stats.ts';
import { renderChart } from '../lib/svg-chart.ts';
import { benchTopic, createTopics, deleteTopics } from '../lib/topics.ts';
import { runClient, type ClientRunOutcome } from '../clients/run-client.ts';
import type { Scenario } from './scenario.ts';

const options = {
  rate: { default: 5_000, help: 'records per second of the paced Java producer' },
  seconds: { default: 15, help: 'seconds per run' },
  size: { default: 1024, help: 'record value size in bytes' },
  reps: { default: 3, help: 'repetitions; each runs write-back off and on (order reversed every other repetition)' },
  partitions: { default: 6, help: 'partitions of each bench topic' },
  'keep-topics': { default: false, help: 'keep the bench topics instead of deleting them afterwards' },
} as const;

type Mode = 'off' | 'on';

interface RunRecord {
  mode: Mode;
  rep: number;
  outcome: Pick<ClientRunOutcome, 'acked' | 'totalAcked' | 'errors' | 'recordsPerSec' | 'mibPerSec' | 'latency'>;
  /** kmp's CPU over the run, from the first record to lag 0. */
  cpuSeconds: number;
  wallSeconds: number;
  /** Record bytes the client sent (acknowledged records × size). */
  producedMiB: number;
  /** Batch bytes kmp copied to the source during the run (0 with write-back off). */
  copiedMiB: number;
  copiedRecords: number;
  /** Seconds from the client's last acknowledgement to lag 0. */
  tailSeconds: number;
  lagRecords: number[];
  lagSeconds: number[];
}

async function scrape(adminUrl: string): Promise<string> {
  return await (await fetch(`${adminUrl}/metrics`)).text();
}

function series(text: string, metric: string, topic: string): number {
  const m = new RegExp(`^${metric}\\{topic="${topic}"\\} (\\S+)$`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

async function oneRun(bp: BenchProxy, mode: Mode, rep: number, topic: string, opts: { rate: number; seconds: number; size: number }): Promise<RunRecord> {
  const before = await scrape(bp.proxy.adminUrl);
  const window = bp.sampler.begin();
  const lagRecords: number[] = [];
  const lagSeconds: number[] = [];
  let sampling = mode === 'on';
  const sampler = (async () => {
    while (sampling) {
      const text = await scrape(bp.proxy.adminUrl);
      lagRecords.push(series(text, 'kmp_writeback_lag_records', topic));
      lagSeconds.push(series(text, 'kmp_writeback_lag_seconds', topic));
      await sleep(100);
    }
  })();
  const outcome = await runClient({
    client: 'java',
    bootstrap: bp.proxy.bootstrap,
    topic,
    size: opts.size,
    mode: { kind: 'paced', rate: opts.rate, seconds: opts.seconds },
    producers: 1,
    tuning: { kafkajsBatch: 20, kafkajsConcurrency: 1, kafkajsTickMs: 10, rdkafkaWindow: 10_000 },
    label: `writeback ${mode.padEnd(3)} ${rep}`,
    extraStatus: () => `kmp RSS ${fmt(bp.sampler.rssMiB, 0)} MiB${lagRecords.length > 0 ? `, lag ${lagRecords[lagRecords.length - 1]} records` : ''}`,
  });
  const clientDone = performance.now();
  let after = await scrape(bp.proxy.adminUrl);
  if (mode === 'on') {
    const deadline = Date.now() + 60_000;
    while (series(after, 'kmp_writeback_lag_records', topic) > 0 && Date.now() < deadline) {
      await sleep(50);
      after = await scrape(bp.proxy.adminUrl);
    }
  }
  const tailSeconds = (performance.now() - clientDone) / 1000;
  sampling = false;
  await sampler;
  const w = window.end();
  const copiedBytes = series(after, 'kmp_writeback_copied_bytes_total', topic) - series(before, 'kmp_writeback_copied_bytes_total', topic);
  const copiedRecords = series(after, 'kmp_writeback_copied_records_total', topic) - series(before, 'kmp_writeback_copied_records_total', topic);
  return {
    mode,
    rep,
    outcome: { acked: outcome.acked, totalAcked: outcome.totalAcked, errors: outcome.errors, recordsPerSec: outcome.recordsPerSec, mibPerSec: outcome.mibPerSec, latency: outcome.latency },
    cpuSeconds: w.cpuSeconds,
    wallSeconds: w.wallSeconds,
    producedMiB: (outcome.totalAcked * opts.size) / 2 ** 20,
    copiedMiB: copiedBytes / 2 ** 20,
    copiedRecords,
    tailSeconds,
    lagRecords,
    lagSeconds,
  };
}

/** CPU seconds per GiB of what the client produced. */
function cpuPerProducedGiB(r: RunRecord): number {
  return r.cpuSeconds / (r.producedMiB / 1024);
}

async function run(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(options, argv);
  const startedAt = new Date();
  log('writeback: starting the Kafka pair (if needed) and the proxy');
  await up();
  const brokers = watchBrokers();
  const environment = await collectEnvironment();
  const topics: Record<Mode, string> = { on: benchTopic('wb-on'), off: benchTopic('wb-off') };
  await createTopics(['source', 'target'], Object.values(topics), opts.partitions);
  const bp = await startBenchProxy(
    { default: 'source', batches: { 'wb-on': { topics: [topics.on] }, 'wb-off': { topics: [topics.off] } } },
    { writeBack: { default: { writeBack: true }, waves: { 'wb-off': { writeBack: false } } }, flip: { timeoutMs: 30_000 } },
  );
  const runs: RunRecord[] = [];
  try {
    for (const wave of ['wb-on', 'wb-off']) {
      const r = await bp.admin('POST', `/v1/batches/${wave}/flip`, { reason: 'bench writeback' });
      if (r.status !== 200) throw new Error(`flip ${wave}: ${JSON.stringify(r.json)}`);
    }
    for (let rep = 1; rep <= opts.reps; rep++) {
      const order: Mode[] = rep % 2 === 1 ? ['off', 'on'] : ['on', 'off'];
      for (const mode of order) {
        const r = await oneRun(bp, mode, rep, topics[mode], opts);
        runs.push(r);
        const lag = r.lagRecords.length > 0 ? summarize(r.lagRecords) : null;
        log(`writeback ${mode} ${rep}: ${fmt(r.outcome.recordsPerSec, 0)} rec/s, kmp CPU ${fmt(r.cpuSeconds, 2)} s (${fmt(cpuPerProducedGiB(r), 1)} s/GiB produced), copied ${fmt(r.copiedMiB, 1)} MiB` +
          (lag === null ? '' : `, lag p50 ${fmt(lag.p50, 0)} p99 ${fmt(lag.p99, 0)} max ${fmt(lag.max, 0)} records, tail ${fmt(r.tailSeconds, 2)} s`));
        await sleep(1000);
      }
    }
  } finally {
    await bp.stop();
    if (!opts['keep-topics']) await deleteTopics(['source', 'target'], Object.values(topics));
  }

  // Per repetition: (CPU on − CPU off) scaled to the same produced bytes, divided by what was copied.
  const perRep = Array.from({ length: opts.reps }, (_, i) => {
    const on = runs.find((r) => r.mode === 'on' && r.rep === i + 1) as RunRecord;
    const off = runs.find((r) => r.mode === 'off' && r.rep === i + 1) as RunRecord;
    const offScaled = off.cpuSeconds * (on.producedMiB / off.producedMiB);
    return { rep: i + 1, extraCpuSeconds: on.cpuSeconds - offScaled, copiedGiB: on.copiedMiB / 1024, cpuSecondsPerGiBCopied: (on.cpuSeconds - offScaled) / (on.copiedMiB / 1024), onPerGiB: cpuPerProducedGiB(on), offPerGiB: cpuPerProducedGiB(off) };
  });
  const allLagRecords = runs.filter((r) => r.mode === 'on').flatMap((r) => r.lagRecords);
  const allLagSeconds = runs.filter((r) => r.mode === 'on').flatMap((r) => r.lagSeconds);
  const lagRecords = summarize(allLagRecords);
  const lagSeconds = summarize(allLagSeconds);
  const summary = {
    copyCpuSecondsPerGiB: round(median(perRep.map((p) => p.cpuSecondsPerGiBCopied)), 1),
    copyCpuSecondsPerGiBRange: [round(Math.min(...perRep.map((p) => p.cpuSecondsPerGiBCopied)), 1), round(Math.max(...perRep.map((p) => p.cpuSecondsPerGiBCopied)), 1)],
    kmpCpuSecondsPerGiBProduced: { off: round(median(perRep.map((p) => p.offPerGiB)), 1), on: round(median(perRep.map((p) => p.onPerGiB)), 1) },
    lagRecords: { p50: round(lagRecords.p50, 0), p99: round(lagRecords.p99, 0), max: round(lagRecords.max, 0) },
    lagSeconds: { p50: round(lagSeconds.p50, 3), p99: round(lagSeconds.p99, 3), max: round(lagSeconds.max, 3) },
    tailSecondsMedian: round(median(runs.filter((r) => r.mode === 'on').map((r) => r.tailSeconds)), 2),
  };
  const settings = { rate: opts.rate, seconds: opts.seconds, size: opts.size, reps: opts.reps, partitions: opts.partitions, client: 'java ProducerPerformance (acks=all, idempotent)' };
  const warning = brokers.restarted();
  const markdown = [
    ...(warning ? [warning, ''] : []),
    `# Write-back cost and lag — ${startedAt.toISOString()}`,
    '',
    environmentLine(environment),
    '',
    `Load: Java ProducerPerformance, ${opts.rate} rec/s × ${opts.size} B for ${opts.seconds} s per run, ${opts.partitions} partitions, both topics on the target; write-back on for one wave, off for the other; ${opts.reps} repetitions, order alternated. kmp's CPU is counted from the first record until the write-back lag is 0.`,
    '',
    `**kmp CPU cost of the copy: ${fmt(summary.copyCpuSecondsPerGiB, 1)} CPU-seconds per GiB copied** (median of ${opts.reps}; range ${summary.copyCpuSecondsPerGiBRange.join('–')}). For scale: kmp spends ${fmt(summary.kmpCpuSecondsPerGiBProduced.off, 1)} CPU-s/GiB produced without write-back and ${fmt(summary.kmpCpuSecondsPerGiBProduced.on, 1)} with it.`,
    '',
    `**Write-back lag under this load** (sampled every 100 ms): records p50 ${summary.lagRecords.p50}, p99 ${summary.lagRecords.p99}, max ${summary.lagRecords.max}; seconds p50 ${summary.lagSeconds.p50}, p99 ${summary.lagSeconds.p99}, max ${summary.lagSeconds.max}; from the last acknowledgement to lag 0: ${summary.tailSecondsMedian} s (median).`,
    '',
    table(
      ['run', 'rec/s', 'p99 ms', 'kmp CPU s', 'CPU s/GiB produced', 'copied MiB', 'lag p99 records', 'lag max s', 'tail s', 'errors'],
      runs.map((r) => {
        const lag = r.lagRecords.length > 0 ? summarize(r.lagRecords) : null;
        return [`${r.mode} ${r.rep}`, fmt(r.outcome.recordsPerSec, 0), fmt(r.outcome.latency.p99, 1), fmt(r.cpuSeconds, 2), fmt(cpuPerProducedGiB(r), 1), fmt(r.copiedMiB, 1), lag === null ? '–' : fmt(lag.p99, 0), r.lagSeconds.length > 0 ? fmt(Math.max(...r.lagSeconds), 3) : '–', r.mode === 'on' ? fmt(r.tailSeconds, 2) : '–', String(r.outcome.errors)];
      }),
    ),
    '',
    table(['repetition', 'extra CPU s (on − off, same bytes)', 'GiB copied', 'CPU s per GiB copied'], perRep.map((p) => [String(p.rep), fmt(p.extraCpuSeconds, 2), fmt(p.copiedGiB, 3), fmt(p.cpuSecondsPerGiBCopied, 1)])),
    '',
  ].join('\n');
  const svg = renderChart({
    title: 'Write-back: kmp CPU and lag',
    subtitle: `${opts.rate} rec/s × ${opts.size} B, Java producer, ${opts.partitions} partitions`,
    panels: [
      { kind: 'bars', title: 'kmp CPU per GiB produced', yLabel: 'CPU seconds / GiB', categories: perRep.map((p) => `rep ${p.rep}`), series: [{ name: 'write-back off', color: '#4e79a7', values: perRep.map((p) => round(p.offPerGiB, 1)) }, { name: 'write-back on', color: '#f28e2b', values: perRep.map((p) => round(p.onPerGiB, 1)) }], decimals: 1 },
      { kind: 'lines', title: 'write-back lag (records), every 100 ms', xLabel: 'sample', yLabel: 'records', series: runs.filter((r) => r.mode === 'on').map((r, i) => ({ name: `rep ${r.rep}`, color: ['#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948'][i % 5], points: r.lagRecords.map((v, x) => [x, v] as [number, number]) })) },
    ],
  });
  const files = writeResults('writeback', startedAt, {
    json: { scenario: 'writeback', startedAt: startedAt.toISOString(), environment, brokerPids: brokers.pids, brokerRestartWarning: warning, settings, summary, perRep, runs: runs.map((r) => ({ ...r, lagRecords: r.lagRecords, lagSeconds: r.lagSeconds.map((s) => round(s, 3)) })) },
    markdown,
    svg,
  });
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${files.json}, ${files.markdown}, ${files.svg}`);
}

export const writebackScenario: Scenario = {
  name: 'writeback',
  summary: "write-back's kmp CPU per GiB copied (same paced load, write-back on vs off) and its lag under that load",
  options,
  run,
};
