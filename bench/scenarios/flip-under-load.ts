// Scenario `flip-under-load`: producers write without pause to N topics of one batch (default 10 topics × 6
// partitions in `wave-1`) while the batch is flipped to the target and rolled back K times through the admin API.
// Reported: each move's hold time (the API answer's timings), producer-visible latency around the moves vs the
// rest of the run, producer errors, and — read back from both clusters afterwards — whether every acknowledged
// record is present exactly once.
import { up } from '../../scripts/kafka/testbed.ts';
import { readTopic, type ClusterName } from '../../test/support/kafka.ts';
import { listOption, parseOptions } from '../lib/args.ts';
import { scrapeCounters, startBenchProxy } from '../lib/bench-proxy.ts';
import { watchBrokers } from '../lib/broker-watch.ts';
import { collectEnvironment, environmentLine } from '../lib/environment.ts';
import { memoryOf, type ProcWindow } from '../lib/proc.ts';
import { log, progress, sleep } from '../lib/progress.ts';
import { FAIL, PASS, table, writeResults } from '../lib/report.ts';
import { fmt, median, round, summarize, type LatencySummary } from '../lib/stats.ts';
import { COLORS, renderChart, type LineSeries } from '../lib/svg-chart.ts';
import { benchTopic, createTopics, deleteTopics } from '../lib/topics.ts';
import { startJavaPerf, type JavaPerfResult } from '../clients/java-perf.ts';
import { startKafkajsLoad, type RunningLoad } from '../clients/kafkajs-load.ts';
import { idOfPayload, type LoadResult } from '../clients/load-types.ts';
import { startRdkafkaLoad } from '../clients/rdkafka-load.ts';
import type { Scenario } from './scenario.ts';

const options = {
  topics: { default: 10, help: 'topics in the batch (kafkajs and librdkafka write to all of them)' },
  partitions: { default: 6, help: 'partitions per topic' },
  moves: { default: 6, help: 'moves: flip, rollback, flip, … (a failed move is retried as the same action; an even number ends on the source)' },
  interval: { default: 2, help: 'seconds between the starts of two moves' },
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

const PRODUCERS = ['kafkajs', 'rdkafka', 'java'] as const;
type ProducerKind = (typeof PRODUCERS)[number];
const LABELS: Record<ProducerKind, string> = { kafkajs: 'kafkajs', rdkafka: 'librdkafka', java: 'Java ProducerPerformance' };

/** A move's window for "latency around moves": from just before the API call to a second after its answer. */
const WINDOW_BEFORE_S = 0.2;
const WINDOW_AFTER_S = 1;

interface MoveRecord {
  index: number;
  action: 'flip' | 'rollback';
  /** Seconds since the load started. */
  at: number;
  /** The admin call's round trip, ms. */
  apiMs: number;
  status: number;
  outcome: string | null;
  holdMs: number | null;
  drainMs: number | null;
  commitMs: number | null;
  totalMs: number | null;
  heldRequests: number | null;
  rejectedRequests: number | null;
  error: string | null;
  /** Worst producer-visible latency (ms) of records due in this move's window, per producer. */
  maxLatencyMs: Partial<Record<ProducerKind, number>>;
}

interface Verification {
  producer: ProducerKind;
  acked: number;
  failed: number;
  onSource: number;
  onTarget: number;
  /** Acknowledged records found exactly once across both clusters. */
  exactlyOnce: number;
  missing: number;
  duplicated: number;
  /** Records found whose id this run never sent (should be 0). */
  unknown: number;
  /** Failed (unacknowledged) records that nevertheless landed — allowed, reported. */
  failedButPresent: number;
  pass: boolean;
  examples: string[];
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
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
            error: res.status === 200 ? null : JSON.stringify(res.json).slice(0, 300), maxLatencyMs: {},
          };
        } catch (err) {
          move = { index: i, action, at, apiMs: performance.now() - t, status: 0, outcome: null, holdMs: null, drainMs: null, commitMs: null, totalMs: null, heldRequests: null, rejectedRequests: null, error: String(err), maxLatencyMs: {} };
        }
        moves.push(move);
        if (move.status === 200) onTarget = action === 'flip';
        lastMove = `${action} #${i} ${move.status === 200 ? `hold ${fmt(move.holdMs, 1)} ms` : `FAILED (${move.status})`}`;
        log(`move ${i}/${opts.moves}: ${action} → HTTP ${move.status}, hold ${fmt(move.holdMs, 1)} ms, drain ${fmt(move.drainMs, 1)} ms, held ${move.heldRequests ?? '–'}, rejected ${move.rejectedRequests ?? '–'}${move.error ? `: ${move.error}` : ''}`);
        // On schedule, but never sooner than half an interval after the previous answer (a slow move must not
        // make the next ones fire back to back).
        const next = Math.max(opts.lead + i * opts.interval, elapsed() + opts.interval / 2);
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

  // Producer-visible latency: records due in a move's window vs all other records.
  const windows = moves.map((m) => [m.at - WINDOW_BEFORE_S, m.at + m.apiMs / 1000 + WINDOW_AFTER_S] as const);
  const inWindow = (t: number): number => windows.findIndex(([a, b]) => t >= a && t <= b);
  const latency: Partial<Record<ProducerKind, { unit: string; baseline: LatencySummary; aroundMoves: LatencySummary }>> = {};
  for (const [k, r] of Object.entries(results) as ['kafkajs' | 'rdkafka', LoadResult][]) {
    const base: number[] = [];
    const around: number[] = [];
    for (let i = 0; i < r.timeline.at.length; i++) {
      const w = inWindow(r.timeline.at[i]);
      const ms = r.timeline.latencyMs[i];
      if (w === -1) base.push(ms);
      else {
        around.push(ms);
        moves[w].maxLatencyMs[k] = Math.max(moves[w].maxLatencyMs[k] ?? 0, ms);
      }
    }
    latency[k] = { unit: r.latencyUnit, baseline: summarize(base), aroundMoves: summarize(around) };
  }
  if (java !== null) {
    // Java reports per second only (avg/max of the records completed in that second). Its first line also covers
    // JVM start, metadata and producer id, so it says nothing about a move.
    for (const iv of java.intervals.slice(1)) {
      const w = inWindow(iv.at) !== -1 ? inWindow(iv.at) : inWindow(iv.at - 1);
      if (w !== -1) moves[w].maxLatencyMs.java = Math.max(moves[w].maxLatencyMs.java ?? 0, iv.maxMs);
    }
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
  const markdown = (warning ? `${warning}\n\n` : '') + renderMarkdown(startedAt, environmentLine(environment), settings, summary, moves, verification, latency, results, java, proxyWindow, hwm, proxyErrors);
  const svg = renderSvg(startedAt, settings, moves, results, java);
  const files = writeResults('flip-under-load', startedAt, {
    json: {
      scenario: 'flip-under-load', startedAt: startedAt.toISOString(), environment, brokerPids: brokers.pids, brokerRestartWarning: warning, settings, summary, moves, verification, latency, proxyErrors,
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

async function verify(
  topics: readonly string[], javaTopic: string, producers: readonly ProducerKind[],
  results: Partial<Record<'kafkajs' | 'rdkafka', LoadResult>>, java: JavaPerfResult | null, concurrency: number,
): Promise<Verification[]> {
  log(`verifying: reading ${topics.length} topics from both clusters`);
  const jobs = topics.flatMap((topic) => (['source', 'target'] as const).map((cluster) => ({ topic, cluster })));
  let done = 0;
  const stop = progress('verify', () => `${done}/${jobs.length} topic reads done`);
  // id → [count on source, count on target]; java: topic totals only (ProducerPerformance payloads carry no id).
  const seen = new Map<string, [number, number]>();
  const javaCounts = { source: 0, target: 0 };
  try {
    await mapLimit(jobs, concurrency, async ({ topic, cluster }: { topic: string; cluster: ClusterName }) => {
      const records = await readTopic(cluster, topic, 120_000);
      const side = cluster === 'source' ? 0 : 1;
      if (topic === javaTopic) javaCounts[cluster] += records.length;
      else {
        for (const r of records) {
          const id = idOfPayload(r.value) ?? `?${r.value?.slice(0, 20)}`;
          let c = seen.get(id);
          if (c === undefined) seen.set(id, (c = [0, 0]));
          c[side]++;
        }
      }
      done++;
    });
  } finally {
    stop();
  }
  const out: Verification[] = [];
  for (const [kind, prefix] of [['kafkajs', 'kjs:'], ['rdkafka', 'rdk:']] as const) {
    const r = results[kind];
    if (!producers.includes(kind) || r === undefined) continue;
    const acked = new Set(r.ackedIds);
    const failed = new Set(r.failedIds);
    const v: Verification = { producer: kind, acked: acked.size, failed: failed.size, onSource: 0, onTarget: 0, exactlyOnce: 0, missing: 0, duplicated: 0, unknown: 0, failedButPresent: 0, pass: false, examples: [] };
    // Primers go to every topic with the same id: expect that many copies of those.
    const expected = new Map<string, number>();
    for (const id of r.ackedIds) expected.set(id, (expected.get(id) ?? 0) + 1);
    for (const [id, [src, tgt]] of seen) {
      if (!id.startsWith(prefix)) continue;
      v.onSource += src;
      v.onTarget += tgt;
      const n = src + tgt;
      const want = expected.get(id);
      if (want !== undefined) {
        if (n === want) v.exactlyOnce += want;
        else if (n > want) {
          v.duplicated += n - want;
          if (v.examples.length < 5) v.examples.push(`${id} ×${n} (source ${src}, target ${tgt})`);
        }
      } else if (failed.has(id)) v.failedButPresent += n;
      else {
        v.unknown += n;
        if (v.examples.length < 5) v.examples.push(`unexpected ${id}`);
      }
    }
    for (const [id, want] of expected) {
      const c = seen.get(id);
      const n = c === undefined ? 0 : c[0] + c[1];
      if (n < want) {
        v.missing += want - n;
        if (v.examples.length < 5) v.examples.push(`missing ${id}`);
      }
    }
    v.acked = r.ackedIds.length;
    v.pass = v.missing === 0 && v.duplicated === 0 && v.unknown === 0;
    out.push(v);
  }
  if (producers.includes('java') && java !== null) {
    const found = javaCounts.source + javaCounts.target;
    const failedSends = java.failedSends;
    out.push({
      producer: 'java', acked: java.allRecords, failed: failedSends, onSource: javaCounts.source, onTarget: javaCounts.target,
      exactlyOnce: Math.min(found, java.allRecords), missing: Math.max(0, java.allRecords - found), duplicated: failedSends === 0 ? Math.max(0, found - java.allRecords) : 0,
      unknown: 0, failedButPresent: failedSends > 0 ? Math.max(0, found - java.allRecords) : 0,
      pass: found === java.allRecords || (failedSends > 0 && found >= java.allRecords),
      examples: found === java.allRecords ? [] : [`found ${found} records, ProducerPerformance acknowledged ${java.allRecords}`],
    });
  }
  return out;
}

function renderMarkdown(
  startedAt: Date, envLine: string,
  settings: { topics: number; partitions: number; moves: number; intervalSeconds: number; size: number; rates: Record<ProducerKind, number>; producers: readonly ProducerKind[]; batch: string },
  summary: { moves: number; movesOk: number; holdMedianMs: number; holdMaxMs: number; recordsChecked: number; producerErrors: number; exactlyOnce: boolean },
  moves: MoveRecord[], verification: Verification[],
  latency: Partial<Record<ProducerKind, { unit: string; baseline: LatencySummary; aroundMoves: LatencySummary }>>,
  results: Partial<Record<'kafkajs' | 'rdkafka', LoadResult>>, java: JavaPerfResult | null, proxy: ProcWindow | null, hwm: number,
  proxyErrors: Record<string, number>,
): string {
  const lines: string[] = [];
  lines.push(`# flip-under-load — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
  lines.push(envLine, '');
  lines.push(`Batch \`${settings.batch}\`: ${settings.topics} topics × ${settings.partitions} partitions` +
    `${settings.producers.includes('java') ? ' (+ 1 topic for Java ProducerPerformance)' : ''}, ${settings.size} B records, acks=all, idempotent producers through the proxy: ` +
    settings.producers.map((p) => `${LABELS[p]} ${settings.rates[p]} rec/s`).join(', ') +
    `. ${settings.moves} moves (flip, rollback, …; a failed move is followed by the same action again) ${settings.intervalSeconds} s apart through the admin API.`, '');
  lines.push(table(['', 'result'], [
    ['moves answered 200', `${summary.movesOk}/${summary.moves} ${summary.movesOk === summary.moves ? PASS : FAIL}`],
    ['hold time median / max', `${fmt(summary.holdMedianMs, 1)} ms / ${fmt(summary.holdMaxMs, 1)} ms`],
    ['records read back from both clusters', summary.recordsChecked.toLocaleString('en-US')],
    ['every acknowledged record present exactly once', summary.exactlyOnce ? `yes ${PASS}` : `no ${FAIL}`],
    ['producer errors', `${summary.producerErrors} ${summary.producerErrors === 0 ? PASS : FAIL}`],
  ], ['l', 'l']));
  lines.push('', '## Moves', '');
  lines.push(table(
    ['#', 'action', 'at (s)', 'HTTP', 'hold ms', 'drain ms', 'commit ms', 'API round trip ms', 'held requests', 'rejected', ...settings.producers.map((p) => `max latency ${p} (ms)`)],
    moves.map((m) => [String(m.index), m.action, fmt(m.at, 1), String(m.status), fmt(m.holdMs, 1), fmt(m.drainMs, 1), fmt(m.commitMs, 1), fmt(m.apiMs, 1),
      m.heldRequests === null ? '–' : String(m.heldRequests), m.rejectedRequests === null ? '–' : String(m.rejectedRequests),
      ...settings.producers.map((p) => fmt(m.maxLatencyMs[p], 1))]),
  ));
  const failedMoves = moves.filter((m) => m.error !== null);
  if (failedMoves.length > 0) {
    lines.push('', 'Failed moves:', '');
    for (const m of failedMoves) lines.push(`- #${m.index} ${m.action}: HTTP ${m.status} — \`${(m.error ?? '').slice(0, 400)}\``);
  }
  lines.push('', `"max latency" = worst producer-visible latency of records due from ${WINDOW_BEFORE_S} s before the API call to ${WINDOW_AFTER_S} s after its answer ` +
    '(Java: worst of its 1-second report lines overlapping that window, leaving out its first line, which includes JVM start-up).', '');
  lines.push('## Producer-visible latency (ms): around moves vs the rest of the run', '');
  lines.push(table(
    ['producer', 'unit', 'acked', 'errors', 'rest p50', 'rest p99', 'rest max', 'around moves p50', 'around moves p99', 'around moves max'],
    (Object.entries(latency) as [ProducerKind, { unit: string; baseline: LatencySummary; aroundMoves: LatencySummary }][]).map(([k, l]) => {
      const r = results[k as 'kafkajs' | 'rdkafka'];
      return [LABELS[k], l.unit, (r?.acked ?? 0).toLocaleString('en-US'), String(r?.errors ?? 0), fmt(l.baseline.p50), fmt(l.baseline.p99), fmt(l.baseline.max), fmt(l.aroundMoves.p50), fmt(l.aroundMoves.p99), fmt(l.aroundMoves.max)];
    }),
  ));
  if (java) lines.push('', `Java ProducerPerformance: \`${java.wholeRunLine}\``);
  const errs = [...Object.values(results).flatMap((r) => r?.errorSamples ?? []), ...(java?.errorLines.slice(0, 3) ?? [])];
  if (errs.length > 0) lines.push('', `Error samples: ${errs.map((e) => `\`${e.slice(0, 160)}\``).join('; ')}`);
  lines.push('', '## Read-back check', '');
  lines.push(table(
    ['producer', 'acknowledged', 'on source', 'on target', 'exactly once', 'missing', 'duplicated', 'unknown', 'failed but present', 'result'],
    verification.map((v) => [LABELS[v.producer], v.acked.toLocaleString('en-US'), v.onSource.toLocaleString('en-US'), v.onTarget.toLocaleString('en-US'), v.exactlyOnce.toLocaleString('en-US'),
      String(v.missing), String(v.duplicated), String(v.unknown), String(v.failedButPresent), v.pass ? PASS : `${FAIL} ${v.examples.join('; ')}`]),
  ));
  lines.push('', 'kafkajs and librdkafka records carry a unique id in their value and are matched one by one (each producer\'s untimed primer record, ' +
    'one per topic, included); Java ProducerPerformance payloads carry none, so its topic is checked by count.');
  const errorList = Object.entries(proxyErrors).filter(([, n]) => n > 0);
  lines.push('', `Partition errors the proxy answered producers with (they retry them): ${errorList.length === 0 ? 'none' : errorList.map(([e, n]) => `${e} × ${n}`).join(', ')}.`);
  lines.push('', `Proxy over the load: CPU ${fmt(proxy?.cpuPercent ?? Number.NaN, 0)} % of one core, RSS peak ${fmt(proxy?.rssPeakMiB ?? Number.NaN, 0)} MiB, VmHWM ${fmt(hwm, 0)} MiB.`);
  return lines.join('\n');
}

function bucketMax(at: Float64Array, ms: Float64Array, bucketS: number): [number, number][] {
  const buckets = new Map<number, number>();
  for (let i = 0; i < at.length; i++) {
    const b = Math.floor(at[i] / bucketS);
    buckets.set(b, Math.max(buckets.get(b) ?? 0, ms[i]));
  }
  return [...buckets].sort((a, b) => a[0] - b[0]).map(([b, v]) => [round(b * bucketS, 3), round(Math.max(v, 0.1), 2)]);
}

function renderSvg(startedAt: Date, settings: { topics: number; partitions: number; moves: number; rates: Record<ProducerKind, number> }, moves: MoveRecord[], results: Partial<Record<'kafkajs' | 'rdkafka', LoadResult>>, java: JavaPerfResult | null): string {
  const series: LineSeries[] = [];
  if (results.kafkajs) series.push({ name: 'kafkajs (max per 250 ms, per 10 ms tick)', color: COLORS.purple, points: bucketMax(results.kafkajs.timeline.at, results.kafkajs.timeline.latencyMs, 0.25) });
  if (results.rdkafka) series.push({ name: 'librdkafka (max per 250 ms)', color: COLORS.proxy, points: bucketMax(results.rdkafka.timeline.at, results.rdkafka.timeline.latencyMs, 0.25) });
  if (java) series.push({ name: 'Java perf (max per 1 s report)', color: COLORS.green, dashed: true, points: java.intervals.map((iv) => [round(iv.at, 2), Math.max(iv.maxMs, 0.1)] as [number, number]) });
  return renderChart({
    title: 'kmp flip under load: producer-visible latency and hold times',
    subtitle: `${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${settings.topics} topics × ${settings.partitions} partitions · ${settings.moves} moves · acks=all, idempotent, through the proxy`,
    columns: 1,
    panelWidth: 980,
    panelHeight: 340,
    panels: [
      {
        kind: 'lines', title: 'Latency over time (dashed verticals = moves, with hold time)', xLabel: 'seconds since the load started', yLabel: 'latency, ms (log scale)', scale: 'log', series,
        markers: moves.map((m) => ({ x: m.at, label: `${m.action} ${m.holdMs === null ? 'failed' : `${fmt(m.holdMs, 1)} ms`}`, color: m.action === 'flip' ? COLORS.direct : COLORS.red })),
      },
      {
        kind: 'bars', title: 'Per move: hold time and worst latency seen by each producer', yLabel: 'ms (log scale)', scale: 'log', decimals: 1,
        categories: moves.map((m) => `#${m.index} ${m.action}`),
        series: [
          { name: 'hold (API timings.holdMs)', color: COLORS.grey, values: moves.map((m) => m.holdMs === null ? null : Math.max(0.01, round(m.holdMs, 2))) },
          ...(['kafkajs', 'rdkafka', 'java'] as const).filter((p) => moves.some((m) => m.maxLatencyMs[p] !== undefined)).map((p) => ({
            name: `worst ${LABELS[p].replace(' ProducerPerformance', ' perf')} latency`,
            color: p === 'kafkajs' ? COLORS.purple : p === 'rdkafka' ? COLORS.proxy : COLORS.green,
            values: moves.map((m) => (m.maxLatencyMs[p] === undefined ? null : round(m.maxLatencyMs[p] as number, 1))),
          })),
        ],
      },
    ],
  });
}

export const flipUnderLoadScenario: Scenario = {
  name: 'flip-under-load',
  summary: 'flips and rollbacks of a batch while kafkajs, librdkafka and Java producers write; hold times, latency, exactly-once read-back',
  options,
  run,
};
