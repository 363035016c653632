// Scenario `flip-under-load`: producers write without pause to N topics of one batch (default 10 topics × 6
// partitions in `wave-1`) while the batch is flipped to the target and rolled back K times through the admin API.
// The headline is the producer-visible pause: per move and per client, the worst latency of records due around the
// move against that client's own p99 and max over the rest of the run (bench/lib/move-impact.ts), with a flag on
// a move that added more than 50 ms. Also reported: each move's hold time (the API answer's timings), the partition
// errors the proxy answered during each move, producer errors, and — read back from both clusters afterwards —
// whether every acknowledged record is present exactly once (flip-read-back.ts).
import { up } from '../../scripts/kafka/testbed.ts';
import { listOption, parseOptions } from '../lib/args.ts';
import { scrapeCounters, startBenchProxy } from '../lib/bench-proxy.ts';
import { watchBrokers } from '../lib/broker-watch.ts';
import { collectEnvironment, environmentLine } from '../lib/environment.ts';
import { ADDED_LATENCY_FLAG_MS, baselineOf, impactOf, medianAddedMs, splitByWindows, splitIntervalsByWindows, type MoveWindow, type WindowSplit } from '../lib/move-impact.ts';
import { memoryOf, type ProcWindow } from '../lib/proc.ts';
import { log, progress, sleep } from '../lib/progress.ts';
import { writeResults } from '../lib/report.ts';
import { fmt, median, summarize, type LatencySummary } from '../lib/stats.ts';
import { benchTopic, createTopics, deleteTopics } from '../lib/topics.ts';
import { startJavaPerf, type JavaPerfResult } from '../clients/java-perf.ts';
import { startKafkajsLoad, type RunningLoad } from '../clients/kafkajs-load.ts';
import type { LoadResult } from '../clients/load-types.ts';
import { startRdkafkaLoad } from '../clients/rdkafka-load.ts';
import { PRODUCERS, verify, type ProducerKind, type Verification } from './flip-read-back.ts';
import { WINDOW_AFTER_S, WINDOW_BEFORE_S, bucketMax, renderMarkdown, renderSvg, type MoveRecord, type ProducerImpact } from './flip-report.ts';
import type { Scenario } from './scenario.ts';

const options = {
  topics: { default: 10, help: 'topics in the batch (kafkajs and librdkafka write to all of them)' },
  partitions: { default: 6, help: 'partitions per topic' },
  moves: { default: 20, help: 'moves: flip, rollback, flip, … (a failed move is retried as the same action; an even number ends on the source)' },
  interval: { default: 2, help: 'seconds between the starts of two moves (and never less than 1 s after the previous answer: its error count is taken then)' },
  lead: { default: 2, help: 'seconds of load before the first move' },
  tail: { default: 2, help: 'seconds of load after the last move' },
  size: { default: 1024, help: 'record value size in bytes' },
  'kafkajs-rate': { default: 500, help: 'kafkajs records/s (0 = no kafkajs producer)' },
  'rdkafka-rate': { default: 1000, help: 'librdkafka records/s (0 = no librdkafka producer)' },
  'java-rate': { default: 300, help: 'Java ProducerPerformance records/s on its own topic in the batch (0 = none)' },
  clients: { default: 1, help: 'producer instances per Node client kind' },
  only: { default: 'kafkajs,rdkafka,java', help: 'which producers to run, comma-separated' },
  batch: { default: 'wave-1', help: 'name of the batch in the proxy config' },
  'read-concurrency': { default: 4, help: 'topics read back in parallel during verification' },
  'keep-topics': { default: false, help: 'keep the bench topics instead of deleting them afterwards' },
} as const;

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Counter increases between two scrapes, by label; zero entries left out. */
function counterDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0);
    if (d > 0) out[key] = d;
  }
  return out;
}

function errorTotal(errors: Record<string, number> | null): number | null {
  return errors === null ? null : Object.values(errors).reduce((a, b) => a + b, 0);
}

async function run(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(options, argv);
  const chosen = listOption('only', opts.only, PRODUCERS);
  const rates: Record<ProducerKind, number> = { kafkajs: opts['kafkajs-rate'], rdkafka: opts['rdkafka-rate'], java: opts['java-rate'] };
  const producers = PRODUCERS.filter((p) => chosen.includes(p) && rates[p] > 0);
  if (producers.length === 0) throw new Error('no producer selected (check --only and the --*-rate options)');
  const startedAt = new Date();
  log('flip-under-load: starting the Kafka pair (if needed)');
  await up();
  const brokers = watchBrokers();
  const environment = await collectEnvironment();
  const base = benchTopic('flip');
  const topics = Array.from({ length: opts.topics }, (_, i) => `${base}-${i}`);
  const javaTopic = `${base}-java`;
  const allTopics = producers.includes('java') ? [...topics, javaTopic] : topics;
  log(`creating ${allTopics.length} topics × ${opts.partitions} partitions on both clusters`);
  await createTopics(['source', 'target'], allTopics, opts.partitions);
  const bp = await startBenchProxy({ default: 'source', batches: { [opts.batch]: { topics: allTopics } } });
  const loadSeconds = opts.lead + opts.moves * opts.interval + opts.tail;

  const moves: MoveRecord[] = [];
  const loads = new Map<'kafkajs' | 'rdkafka', RunningLoad>();
  let javaRun: { done: Promise<JavaPerfResult> } | null = null;
  let results: Partial<Record<'kafkajs' | 'rdkafka', LoadResult>> = {};
  let java: JavaPerfResult | null = null;
  let proxyWindow: ProcWindow | null = null;
  let hwm = Number.NaN;
  let verification: Verification[] = [];
  let stopLoad = false;
  /** Partition errors the proxy returned to producers, by error name (its kmp_produce_errors_total). */
  let proxyErrors: Record<string, number> = {};
  const scrapeErrors = (): Promise<Record<string, number> | null> => scrapeCounters(bp.proxy.adminUrl, 'kmp_produce_errors_total', 'error').catch(() => null);
  try {
    const window = bp.sampler.begin();
    const origin = performance.now();
    const elapsed = (): number => (performance.now() - origin) / 1000;
    // Paced loads run until told to stop (after the tail), however long the moves take.
    const mode = { kind: 'paced' as const, rate: 0, seconds: 3600, stop: () => stopLoad };
    if (producers.includes('kafkajs')) {
      loads.set('kafkajs', startKafkajsLoad({ bootstrap: bp.proxy.bootstrap, topics, size: opts.size, producers: opts.clients, trackIds: 'kjs', origin, mode: { ...mode, rate: rates.kafkajs }, tickMs: 10 }));
    }
    if (producers.includes('rdkafka')) {
      loads.set('rdkafka', startRdkafkaLoad({ bootstrap: bp.proxy.bootstrap, topics, size: opts.size, producers: opts.clients, trackIds: 'rdk', origin, mode: { ...mode, rate: rates.rdkafka } }));
    }
    if (producers.includes('java')) {
      // Fixed record count: Java runs for about the planned duration (plus its JVM start).
      javaRun = startJavaPerf({ bootstrap: bp.proxy.bootstrap, topic: javaTopic, records: Math.round(rates.java * (loadSeconds + 1)), size: opts.size, throughput: rates.java, origin });
    }
    let lastMove = '';
    const stopProgress = progress('flip-under-load', () => {
      const parts = [...loads].map(([k, l]) => `${k} ${fmt(l.status.acked, 0)} acked/${l.status.errors} err`);
      const mem = memoryOf(bp.pid);
      return `${parts.join(', ')}${lastMove ? `, last move: ${lastMove}` : ''}, proxy RSS ${fmt(mem?.rssMiB ?? Number.NaN, 0)} MiB`;
    });
    try {
      await sleep(opts.lead * 1000);
      // Where the batch is: a move that fails (aborted drain, timeout) leaves it where it was, and the next move
      // must be the one that makes sense from there, not a blind alternation.
      let onTarget = false;
      for (let i = 1; i <= opts.moves; i++) {
        const action: 'flip' | 'rollback' = onTarget ? 'rollback' : 'flip';
        const errorsBefore = await scrapeErrors();
        const at = elapsed();
        const t = performance.now();
        let move: MoveRecord;
        try {
          const res = await bp.admin('POST', `/v1/batches/${opts.batch}/${action}`, { reason: `bench flip-under-load move ${i}` });
          const timings = (res.json.timings ?? null) as Record<string, unknown> | null;
          move = {
            index: i, action, at, apiMs: performance.now() - t, status: res.status,
            outcome: typeof res.json.outcome === 'string' ? res.json.outcome : null,
            holdMs: num(timings?.holdMs), drainMs: num(timings?.drainMs), commitMs: num(timings?.commitMs), totalMs: num(timings?.totalMs),
            heldRequests: num(res.json.heldRequests), rejectedRequests: num(res.json.rejectedRequests),
            error: res.status === 200 ? null : JSON.stringify(res.json).slice(0, 300), maxLatencyMs: {}, partitionErrors: null,
          };
        } catch (err) {
          move = { index: i, action, at, apiMs: performance.now() - t, status: 0, outcome: null, holdMs: null, drainMs: null, commitMs: null, totalMs: null, heldRequests: null, rejectedRequests: null, error: String(err), maxLatencyMs: {}, partitionErrors: null };
        }
        const answeredAt = elapsed();
        // The move's window runs to WINDOW_AFTER_S after the answer: count the proxy's partition errors up to there.
        await sleep(Math.max(0, answeredAt + WINDOW_AFTER_S - elapsed()) * 1000);
        const errorsAfter = await scrapeErrors();
        move.partitionErrors = errorsBefore === null || errorsAfter === null ? null : counterDelta(errorsBefore, errorsAfter);
        moves.push(move);
        if (move.status === 200) onTarget = action === 'flip';
        lastMove = `${action} #${i} ${move.status === 200 ? `hold ${fmt(move.holdMs, 1)} ms` : `FAILED (${move.status})`}`;
        log(`move ${i}/${opts.moves}: ${action} → HTTP ${move.status}, hold ${fmt(move.holdMs, 1)} ms, drain ${fmt(move.drainMs, 1)} ms, held ${move.heldRequests ?? '–'}, rejected ${move.rejectedRequests ?? '–'}, ` +
          `partition errors ${errorTotal(move.partitionErrors) ?? '?'}${move.error ? `: ${move.error}` : ''}`);
        // On schedule, but never sooner than half an interval after the previous answer (a slow move must not
        // make the next ones fire back to back).
        const next = Math.max(opts.lead + i * opts.interval, answeredAt + opts.interval / 2);
        const wait = next - elapsed();
        if (wait > 0) await sleep(wait * 1000);
      }
      await sleep(opts.tail * 1000);
      stopLoad = true;
      for (const [k, l] of loads) results = { ...results, [k]: await l.done };
      if (javaRun !== null) java = await javaRun.done;
    } finally {
      stopLoad = true;
      stopProgress();
    }
    proxyWindow = window.end();
    hwm = memoryOf(bp.pid)?.hwmMiB ?? Number.NaN;
    proxyErrors = await scrapeCounters(bp.proxy.adminUrl, 'kmp_produce_errors_total', 'error').catch(() => ({}));
  } finally {
    await bp.stop();
  }

  try {
    verification = await verify(allTopics, javaTopic, producers, results, java, opts['read-concurrency']);
  } finally {
    if (!opts['keep-topics']) await deleteTopics(['source', 'target'], allTopics);
  }

  // Producer-visible latency: records due in a move's window vs all other records (the rest of the run).
  const windows: MoveWindow[] = moves.map((m) => [m.at - WINDOW_BEFORE_S, m.at + m.apiMs / 1000 + WINDOW_AFTER_S]);
  const splits: Partial<Record<ProducerKind, { unit: string; split: WindowSplit }>> = {};
  for (const [k, r] of Object.entries(results) as ['kafkajs' | 'rdkafka', LoadResult][]) {
    splits[k] = { unit: r.latencyUnit, split: splitByWindows(r.timeline.at, r.timeline.latencyMs, windows) };
  }
  // Java reports per second only (the max of the records completed in that second); its first line also covers
  // JVM start, metadata and producer id, so it says nothing about a move and is no baseline either.
  if (java !== null) splits.java = { unit: '1 s report line (max)', split: splitIntervalsByWindows(java.intervals.slice(1), windows) };
  const latency: Partial<Record<ProducerKind, { unit: string; baseline: LatencySummary; aroundMoves: LatencySummary }>> = {};
  const impact: Partial<Record<ProducerKind, ProducerImpact>> = {};
  for (const [k, { unit, split }] of Object.entries(splits) as [ProducerKind, { unit: string; split: WindowSplit }][]) {
    if (k !== 'java') latency[k] = { unit, baseline: summarize(split.rest), aroundMoves: summarize(split.around) };
    const baseline = baselineOf(split.rest);
    const perMove = split.worstPerWindow.map((worst) => impactOf(worst, baseline));
    split.worstPerWindow.forEach((worst, i) => {
      if (worst !== null) moves[i].maxLatencyMs[k] = worst;
    });
    impact[k] = { unit, baseline, perMove, medianAddedMs: medianAddedMs(perMove), flagged: perMove.filter((m) => m.flagged).length };
  }

  const holds = moves.map((m) => m.holdMs).filter((v): v is number => v !== null);
  const summary = {
    moves: moves.length,
    movesOk: moves.filter((m) => m.status === 200).length,
    holdMedianMs: median(holds),
    holdMaxMs: holds.length > 0 ? Math.max(...holds) : Number.NaN,
    recordsChecked: verification.reduce((n, v) => n + v.onSource + v.onTarget, 0),
    producerErrors: Object.values(results).reduce((n, r) => n + (r?.errors ?? 0), 0) + (java?.failedSends ?? 0),
    exactlyOnce: verification.every((v) => v.pass),
  };
  const settings = { topics: opts.topics, partitions: opts.partitions, moves: opts.moves, intervalSeconds: opts.interval, leadSeconds: opts.lead, tailSeconds: opts.tail, size: opts.size, rates, producers, clients: opts.clients, batch: opts.batch };
  const warning = brokers.restarted();
  const markdown = (warning ? `${warning}\n\n` : '') + renderMarkdown(startedAt, environmentLine(environment), settings, summary, moves, impact, verification, latency, results, java, proxyWindow, hwm, proxyErrors);
  const svg = renderSvg(startedAt, settings, moves, impact, results, java);
  const files = writeResults('flip-under-load', startedAt, {
    json: {
      scenario: 'flip-under-load', startedAt: startedAt.toISOString(), environment, brokerPids: brokers.pids, brokerRestartWarning: warning, settings, summary, moves, impact, flagAboveMs: ADDED_LATENCY_FLAG_MS, verification, latency, proxyErrors,
      producers: {
        ...Object.fromEntries(Object.entries(results).map(([k, r]) => [k, { sent: r.sent, acked: r.acked, errors: r.errors, errorSamples: r.errorSamples, recordsPerSec: r.recordsPerSec, latency: r.latency, latencyUnit: r.latencyUnit }])),
        ...(java ? { java: { summaryLine: java.summaryLine, wholeRunLine: java.wholeRunLine, allRecords: java.allRecords, failedSends: java.failedSends, intervals: java.intervals, errorLines: java.errorLines } } : {}),
      },
      proxy: { window: proxyWindow, vmHwmMiB: hwm },
      /** The chart's series: worst latency (ms) per 250 ms of due time, [seconds since load start, ms]. */
      latencyTimeline: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, bucketMax(r.timeline.at, r.timeline.latencyMs, 0.25)])),
    },
    markdown,
    svg,
  });
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${files.json}, ${files.markdown}, ${files.svg}`);
}

export const flipUnderLoadScenario: Scenario = {
  name: 'flip-under-load',
  summary: 'flips and rollbacks of a batch while kafkajs, librdkafka and Java producers write; hold times, latency, exactly-once read-back',
  options,
  run,
};
