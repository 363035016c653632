// What `flip-under-load` makes of a run: the Markdown summary (headline: the producer-visible pause per move and
// per client against the client's rest-of-run p99) and the SVG chart. The run itself is flip-under-load.ts.
import type { ProcWindow } from '../lib/proc.ts';
import type { Baseline, MoveImpact } from '../lib/move-impact.ts';
import { ADDED_LATENCY_FLAG_MS } from '../lib/move-impact.ts';
import { FAIL, PASS, table } from '../lib/report.ts';
import { fmt, round, type LatencySummary } from '../lib/stats.ts';
import { COLORS, renderChart, type LineSeries } from '../lib/svg-chart.ts';
import type { JavaPerfResult } from '../clients/java-perf.ts';
import type { LoadResult } from '../clients/load-types.ts';
import { LABELS, type ProducerKind, type Verification } from './flip-read-back.ts';

/** A move's window for "latency around moves": from just before the API call to a second after its answer. */
export const WINDOW_BEFORE_S = 0.2;
export const WINDOW_AFTER_S = 1;

export interface MoveRecord {
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
  /**
   * Partition errors the proxy answered producers with from just before the call to the end of the move's window
   * (kmp_produce_errors_total by error name, the difference of two scrapes); null if a scrape failed.
   */
  partitionErrors: Record<string, number> | null;
}

/** Per producer: its rest-of-run baseline and what each move did against it. */
export interface ProducerImpact {
  unit: string;
  baseline: Baseline;
  perMove: MoveImpact[];
  medianAddedMs: number;
  flagged: number;
}

const FLAG = '⚠️';

/** A difference in ms with its sign: "+12.3", "-4.0", "–" when unknown. */
function signed(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–';
  return `${ms >= 0 ? '+' : ''}${fmt(ms, 1)}`;
}

function impactCell(i: MoveImpact | undefined): string {
  if (i === undefined || i.worstMs === null) return '–';
  return `${fmt(i.worstMs, 1)} (${signed(i.overRestP99Ms)})${i.flagged ? ` ${FLAG}` : ''}`;
}

function errorsCell(errors: Record<string, number> | null): string {
  if (errors === null) return '?';
  const entries = Object.entries(errors);
  return entries.length === 0 ? '0' : entries.map(([e, n]) => `${e} × ${n}`).join(', ');
}

/** The chosen producers that have an impact entry, in the settings' order. */
function producersWithImpact(producers: readonly ProducerKind[], impact: Partial<Record<ProducerKind, ProducerImpact>>): [ProducerKind, ProducerImpact][] {
  return producers.flatMap((p) => (impact[p] === undefined ? [] : [[p, impact[p]] as [ProducerKind, ProducerImpact]]));
}

export function renderMarkdown(
  startedAt: Date, envLine: string,
  settings: { topics: number; partitions: number; moves: number; intervalSeconds: number; size: number; rates: Record<ProducerKind, number>; producers: readonly ProducerKind[]; batch: string },
  summary: { moves: number; movesOk: number; holdMedianMs: number; holdMaxMs: number; recordsChecked: number; producerErrors: number; exactlyOnce: boolean },
  moves: MoveRecord[], impact: Partial<Record<ProducerKind, ProducerImpact>>, verification: Verification[],
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
    ...producersWithImpact(settings.producers, impact).map(([p, i]) => [
      `${LABELS[p]}: moves adding > ${ADDED_LATENCY_FLAG_MS} ms (worst around the move − rest p99); median added`,
      `${i.flagged}/${i.perMove.length} ${i.flagged === 0 ? PASS : FLAG}; median ${signed(i.medianAddedMs)} ms`,
    ]),
  ], ['l', 'l']));
  lines.push('', '## Producer-visible pause per move', '');
  const withImpact = producersWithImpact(settings.producers, impact);
  lines.push(table(
    ['#', 'action', 'at (s)', 'HTTP', 'hold ms', 'partition errors answered', ...withImpact.map(([p]) => `${LABELS[p].replace(' ProducerPerformance', '')}: worst ms (− rest p99)`)],
    [
      ...moves.map((m) => [String(m.index), m.action, fmt(m.at, 1), String(m.status), fmt(m.holdMs, 1), errorsCell(m.partitionErrors),
        ...withImpact.map(([, i]) => impactCell(i.perMove[m.index - 1]))]),
      ['**median**', '', '', '', '', '', ...withImpact.map(([, i]) => `**${signed(i.medianAddedMs)}**`)],
    ],
  ));
  lines.push('', `Per move and client: the worst latency of the client's records due from ${WINDOW_BEFORE_S} s before the API call to ${WINDOW_AFTER_S} s after its ` +
    `answer, and in brackets how far that is above the same client's p99 over the rest of the run (records due in no move's window); ${FLAG} = more than ` +
    `${ADDED_LATENCY_FLAG_MS} ms above. **median** = median over the moves of that difference. "partition errors answered" = the proxy's ` +
    'kmp_produce_errors_total increase from just before the call to the end of the window (clients retry these).', '');
  lines.push(table(
    ['producer', 'unit', 'rest samples', 'rest p99 (ms)', 'rest max (ms)', `moves > ${ADDED_LATENCY_FLAG_MS} ms over rest p99`, 'worst move over rest max (ms)'],
    withImpact.map(([p, i]) => [LABELS[p], i.unit, i.baseline.samples.toLocaleString('en-US'), fmt(i.baseline.p99), fmt(i.baseline.max), `${i.flagged}/${i.perMove.length}`,
      signed(Math.max(...i.perMove.map((m) => m.overRestMaxMs ?? Number.NEGATIVE_INFINITY)))]),
  ));
  if (impact.java) lines.push('', 'Java: its samples are its 1-second report lines (the max of the records completed in each second, the first line left out), so its "p99" is over those per-second maxima.');
  lines.push('', '## Moves: barrier timings', '');
  lines.push(table(
    ['#', 'action', 'at (s)', 'HTTP', 'hold ms', 'drain ms', 'commit ms', 'API round trip ms', 'held requests', 'rejected'],
    moves.map((m) => [String(m.index), m.action, fmt(m.at, 1), String(m.status), fmt(m.holdMs, 1), fmt(m.drainMs, 1), fmt(m.commitMs, 1), fmt(m.apiMs, 1),
      m.heldRequests === null ? '–' : String(m.heldRequests), m.rejectedRequests === null ? '–' : String(m.rejectedRequests)]),
  ));
  const failedMoves = moves.filter((m) => m.error !== null);
  if (failedMoves.length > 0) {
    lines.push('', 'Failed moves:', '');
    for (const m of failedMoves) lines.push(`- #${m.index} ${m.action}: HTTP ${m.status} — \`${(m.error ?? '').slice(0, 400)}\``);
  }
  lines.push('', '## Producer-visible latency (ms): around moves vs the rest of the run', '');
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

export function bucketMax(at: Float64Array, ms: Float64Array, bucketS: number): [number, number][] {
  const buckets = new Map<number, number>();
  for (let i = 0; i < at.length; i++) {
    const b = Math.floor(at[i] / bucketS);
    buckets.set(b, Math.max(buckets.get(b) ?? 0, ms[i]));
  }
  return [...buckets].sort((a, b) => a[0] - b[0]).map(([b, v]) => [round(b * bucketS, 3), round(Math.max(v, 0.1), 2)]);
}

export function renderSvg(startedAt: Date, settings: { topics: number; partitions: number; moves: number; rates: Record<ProducerKind, number> }, moves: MoveRecord[], impact: Partial<Record<ProducerKind, ProducerImpact>>, results: Partial<Record<'kafkajs' | 'rdkafka', LoadResult>>, java: JavaPerfResult | null): string {
  const series: LineSeries[] = [];
  if (results.kafkajs) series.push({ name: 'kafkajs (max per 250 ms, per 10 ms tick)', color: COLORS.purple, points: bucketMax(results.kafkajs.timeline.at, results.kafkajs.timeline.latencyMs, 0.25) });
  if (results.rdkafka) series.push({ name: 'librdkafka (max per 250 ms)', color: COLORS.proxy, points: bucketMax(results.rdkafka.timeline.at, results.rdkafka.timeline.latencyMs, 0.25) });
  if (java) series.push({ name: 'Java perf (max per 1 s report)', color: COLORS.green, dashed: true, points: java.intervals.map((iv) => [round(iv.at, 2), Math.max(iv.maxMs, 0.1)] as [number, number]) });
  return renderChart({
    title: 'kmp flip under load: the pause producers see, and hold times',
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
        kind: 'bars', title: `Per move: hold time, and how far each producer's worst latency around it was above its rest-of-run p99 (flag > ${ADDED_LATENCY_FLAG_MS} ms)`,
        yLabel: 'ms (below the p99: 0)', decimals: 1,
        reference: { value: ADDED_LATENCY_FLAG_MS, label: `flag: +${ADDED_LATENCY_FLAG_MS} ms` },
        categories: moves.map((m) => `#${m.index} ${m.action}`),
        series: [
          { name: 'hold (API timings.holdMs)', color: COLORS.grey, values: moves.map((m) => (m.holdMs === null ? null : round(m.holdMs, 2))) },
          ...(['kafkajs', 'rdkafka', 'java'] as const).filter((p) => impact[p] !== undefined).map((p) => ({
            name: `${LABELS[p].replace(' ProducerPerformance', ' perf')}: worst − rest p99`,
            color: p === 'kafkajs' ? COLORS.purple : p === 'rdkafka' ? COLORS.proxy : COLORS.green,
            values: (impact[p] as ProducerImpact).perMove.map((i) => (i.overRestP99Ms === null ? null : round(Math.max(0, i.overRestP99Ms), 1))),
          })),
        ],
      },
    ],
  });
}

