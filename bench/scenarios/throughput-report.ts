// What `throughput` makes of its runs: per client, medians per path, per-pair ratios (proxy/direct, pipe/direct,
// proxy CPU per MiB ÷ pipe CPU per MiB), and the Markdown and SVG that show them. The runs come from
// throughput.ts; this file only computes and renders.
import type { ProcWindow } from '../lib/proc.ts';
import { pairRatios, type RatioSpread } from '../lib/pair-ratios.ts';
import { FAIL, PASS, table } from '../lib/report.ts';
import { fmt, median, round } from '../lib/stats.ts';
import { COLORS, renderChart, type BarSeries } from '../lib/svg-chart.ts';
import { CLIENT_LABELS, type ClientKind, type ClientRunOutcome } from '../clients/run-client.ts';

export const GOAL_RATIO = 0.95;
export const GOAL_ADDED_P99_MS = 1;
/** Fewer pairs than this and a min/median/max spread says little on this machine (see bench/README.md). */
export const MIN_PAIRS_FOR_SPREAD = 5;

/**
 * direct = straight to the broker; pipe = through the bare TCP relay (no parsing, bench/lib/bare-pipe-relay.ts);
 * proxy = through kmp.
 */
export type Path = 'direct' | 'pipe' | 'proxy';

export interface RunRecord {
  client: ClientKind;
  path: Path;
  rep: number;
  records: number;
  /** Payload MiB acknowledged in this run. */
  mib: number;
  outcome: ClientRunOutcome;
  /** The relaying process over this run: kmp on proxy runs, the bare pipe on pipe runs, null on direct runs. */
  relay: ProcWindow | null;
  /** Source broker CPU over this run, % of one core. */
  brokerCpuPercent: number | null;
}

interface PathSummary {
  runs: number;
  mibPerSec: number;
  recordsPerSec: number;
  p50: number;
  p99: number;
  /** Relay CPU milliseconds per MiB forwarded (median over runs); NaN for direct. */
  cpuMsPerMiB: number;
  /** Relay CPU while forwarding at the measured rate, % of one core (ms/MiB × MiB/s ÷ 10). */
  cpuPercent: number;
}

export interface ClientSummary {
  client: ClientKind;
  latencyUnit: string;
  direct: PathSummary;
  pipe: PathSummary | null;
  proxy: PathSummary;
  /** Per-pair proxy records/s ÷ direct records/s; its median is the number the ≥ 0.95 goal is judged on. */
  proxyOverDirect: RatioSpread;
  /** Per-pair pipe ÷ direct: the floor any Node proxy reaches on this machine. */
  pipeOverDirect: RatioSpread | null;
  /** Per-pair proxy ÷ pipe records/s: how much of the reachable throughput kmp gets. */
  proxyOverPipe: RatioSpread | null;
  /** Per-pair proxy CPU ms/MiB ÷ pipe CPU ms/MiB: what parsing and routing cost over moving bytes. */
  cpuProxyOverPipe: RatioSpread | null;
  addedP50Ms: number;
  addedP99Ms: number;
  throughputPass: boolean;
  latencyPass: boolean;
  proxyRssPeakMiB: number;
  brokerCpuPercent: Record<Path, number>;
  errors: number;
}

function cpuMsPerMiB(r: RunRecord): number {
  return r.relay ? (r.relay.cpuSeconds * 1000) / r.mib : Number.NaN;
}

function pathSummary(rs: RunRecord[]): PathSummary {
  const cpu = median(rs.map(cpuMsPerMiB));
  const mibPerSec = median(rs.map((r) => r.outcome.mibPerSec));
  return {
    runs: rs.length,
    mibPerSec,
    recordsPerSec: median(rs.map((r) => r.outcome.recordsPerSec)),
    p50: median(rs.map((r) => r.outcome.latency.p50)),
    p99: median(rs.map((r) => r.outcome.latency.p99)),
    cpuMsPerMiB: cpu,
    cpuPercent: (cpu * mibPerSec) / 10,
  };
}

/** Runs of one path in repetition order, NaN-filled where a repetition has none, so pairs line up by rep. */
function byRep(runs: RunRecord[], path: Path, reps: number[], value: (r: RunRecord) => number): number[] {
  return reps.map((rep) => {
    const r = runs.find((x) => x.path === path && x.rep === rep);
    return r === undefined ? Number.NaN : value(r);
  });
}

export function summarizeClient(client: ClientKind, allRuns: RunRecord[]): ClientSummary {
  const runs = allRuns.filter((r) => r.client === client);
  const of = (path: Path) => runs.filter((r) => r.path === path);
  const reps = [...new Set(runs.map((r) => r.rep))].sort((a, b) => a - b);
  const rate = (r: RunRecord): number => r.outcome.recordsPerSec;
  const direct = pathSummary(of('direct'));
  const proxy = pathSummary(of('proxy'));
  const hasPipe = of('pipe').length > 0;
  const pipe = hasPipe ? pathSummary(of('pipe')) : null;
  const proxyOverDirect = pairRatios(byRep(runs, 'proxy', reps, rate), byRep(runs, 'direct', reps, rate));
  const addedP99Ms = proxy.p99 - direct.p99;
  return {
    client,
    latencyUnit: runs[0]?.outcome.latencyUnit ?? 'record',
    direct,
    pipe,
    proxy,
    proxyOverDirect,
    pipeOverDirect: hasPipe ? pairRatios(byRep(runs, 'pipe', reps, rate), byRep(runs, 'direct', reps, rate)) : null,
    proxyOverPipe: hasPipe ? pairRatios(byRep(runs, 'proxy', reps, rate), byRep(runs, 'pipe', reps, rate)) : null,
    cpuProxyOverPipe: hasPipe ? pairRatios(byRep(runs, 'proxy', reps, cpuMsPerMiB), byRep(runs, 'pipe', reps, cpuMsPerMiB)) : null,
    addedP50Ms: proxy.p50 - direct.p50,
    addedP99Ms,
    throughputPass: proxyOverDirect.median >= GOAL_RATIO,
    latencyPass: addedP99Ms <= GOAL_ADDED_P99_MS,
    proxyRssPeakMiB: Math.max(...of('proxy').map((r) => r.relay?.rssPeakMiB ?? 0)),
    brokerCpuPercent: {
      direct: median(of('direct').map((r) => r.brokerCpuPercent ?? Number.NaN)),
      pipe: median(of('pipe').map((r) => r.brokerCpuPercent ?? Number.NaN)),
      proxy: median(of('proxy').map((r) => r.brokerCpuPercent ?? Number.NaN)),
    },
    errors: runs.reduce((n, r) => n + r.outcome.errors, 0),
  };
}

/** "min / median / max" of a ratio spread. */
function spread(r: RatioSpread | null, decimals = 3): string {
  if (r === null || r.pairs === 0) return '–';
  return `${fmt(r.min, decimals)} / **${fmt(r.median, decimals)}** / ${fmt(r.max, decimals)}`;
}

export interface ReportSettings {
  size: number;
  reps: number;
  clients: number;
  partitions: number;
  pipe: boolean;
  recordsPerClient: Record<string, number>;
}

export function renderMarkdown(
  startedAt: Date, envLine: string, settings: ReportSettings, summaries: ClientSummary[], runs: RunRecord[],
  mem: { rssIdleMiB: number; rssPeakMiB: number; vmHwmMiB: number },
): string {
  const lines: string[] = [];
  const paths = settings.pipe ? 'direct/pipe/proxy triples' : 'direct/proxy pairs';
  lines.push(`# throughput — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
  lines.push(envLine, '');
  lines.push(`${settings.size} B records, acks=all, idempotent, ${settings.partitions} partitions, ${settings.clients} producer(s) per run, ` +
    `${settings.reps} ${paths} per client (order reversed every other repetition), medians shown, ratios per pair as min / **median** / max. Records per run: ` +
    `${Object.entries(settings.recordsPerClient).map(([c, n]) => `${c} ${n.toLocaleString('en-US')}`).join(', ')}. ` +
    `Goals: proxy ≥ ${GOAL_RATIO} × direct throughput, ≤ ${GOAL_ADDED_P99_MS} ms added p99.`, '');
  if (settings.reps < MIN_PAIRS_FOR_SPREAD) {
    lines.push(`⚠️ ${settings.reps} repetition(s): single numbers here swing by ±20 %; judge ratios over ≥ ${MIN_PAIRS_FOR_SPREAD} pairs (\`--reps ${MIN_PAIRS_FOR_SPREAD}\`).`, '');
  }
  lines.push(table(
    ['client', 'direct MiB/s', 'proxy MiB/s', 'direct rec/s', 'proxy rec/s', 'proxy/direct (per pair)', `≥ ${GOAL_RATIO}`, 'p50 direct → proxy (ms)', 'p99 direct → proxy (ms)', 'added p99 (ms)', `≤ ${GOAL_ADDED_P99_MS} ms`, 'proxy CPU', 'proxy CPU ms/MiB', 'errors'],
    summaries.map((s) => [
      `${CLIENT_LABELS[s.client]}${s.latencyUnit === 'send' ? ' ¹' : ''}`,
      fmt(s.direct.mibPerSec, 2), fmt(s.proxy.mibPerSec, 2), fmt(s.direct.recordsPerSec, 0), fmt(s.proxy.recordsPerSec, 0),
      spread(s.proxyOverDirect), s.throughputPass ? PASS : FAIL,
      `${fmt(s.direct.p50)} → ${fmt(s.proxy.p50)}`, `${fmt(s.direct.p99)} → ${fmt(s.proxy.p99)}`, fmt(s.addedP99Ms, 1), s.latencyPass ? PASS : FAIL,
      `${fmt(s.proxy.cpuPercent, 0)} %`, fmt(s.proxy.cpuMsPerMiB, 1), String(s.errors),
    ]),
  ));
  lines.push('');
  if (settings.pipe) {
    lines.push('## The physical limit: a bare pipe', '');
    lines.push(table(
      ['client', 'pipe MiB/s', 'pipe/direct (per pair)', 'proxy/pipe (per pair)', 'pipe CPU ms/MiB', 'proxy CPU ms/MiB', 'proxy CPU ÷ pipe CPU per MiB (per pair)', 'pipe CPU', 'p99 pipe (ms)'],
      summaries.map((s) => [
        CLIENT_LABELS[s.client], fmt(s.pipe?.mibPerSec, 2), spread(s.pipeOverDirect), spread(s.proxyOverPipe),
        fmt(s.pipe?.cpuMsPerMiB, 2), fmt(s.proxy.cpuMsPerMiB, 2), spread(s.cpuProxyOverPipe, 2), `${fmt(s.pipe?.cpuPercent, 0)} %`, fmt(s.pipe?.p99),
      ]),
    ));
    lines.push('', 'The bare pipe is a Node TCP relay in its own process (`net` sockets piped both ways, no Kafka parsing) in front of the source ' +
      'broker\'s PIPE listener, which advertises the relay\'s address, so clients stay on it. **pipe/direct** is the most any Node proxy can reach ' +
      'on this machine (the relay\'s copies compete with broker and client for the two cores); **proxy CPU ÷ pipe CPU** is what kmp spends per MiB ' +
      'on top of moving the bytes. Each ratio is taken within one repetition (same minute, same machine load), then min / median / max over the repetitions.', '');
  }
  lines.push(`Proxy process RSS: ${fmt(mem.rssIdleMiB, 0)} MiB idle after start, ${fmt(mem.rssPeakMiB, 0)} MiB peak sampled during the runs, VmHWM ${fmt(mem.vmHwmMiB, 0)} MiB. ` +
    'CPU (utime+stime from /proc) of the proxy and the pipe is given as CPU-ms per MiB forwarded, and as % of one core while forwarding at the ' +
    'measured rate (ms/MiB × MiB/s); the all-runs table also shows CPU over each whole run window, start-up included.', '');
  if (summaries.some((s) => s.latencyUnit === 'send')) lines.push('¹ kafkajs latency is per send() call (a batch of records), not per record.', '');
  lines.push('Latency in this scenario is measured at saturation: it is mostly time spent queued in the client\'s buffer, so the added-p99 mark here ' +
    'mirrors the throughput ratio; the `latency` scenario (fixed rate) is the real test of the 1 ms budget.', '');
  lines.push('<details><summary>All runs</summary>', '');
  lines.push(table(
    ['client', 'path', 'rep', 'records', 'MiB/s', 'rec/s', 'p50', 'p95', 'p99', 'p99.9', 'max', 'relay CPU ms/MiB', 'relay CPU (run window)', 'relay RSS peak', 'broker CPU (run window)', 'errors'],
    runs.map((r) => [
      r.client, r.path, String(r.rep), r.outcome.acked.toLocaleString('en-US'), fmt(r.outcome.mibPerSec, 2), fmt(r.outcome.recordsPerSec, 0),
      fmt(r.outcome.latency.p50), fmt(r.outcome.latency.p95), fmt(r.outcome.latency.p99), fmt(r.outcome.latency.p999), fmt(r.outcome.latency.max),
      r.relay ? fmt(cpuMsPerMiB(r), 2) : '–', r.relay ? `${fmt(r.relay.cpuPercent, 0)} %` : '–', r.relay ? `${fmt(r.relay.rssPeakMiB, 0)} MiB` : '–',
      r.brokerCpuPercent === null ? '–' : `${fmt(r.brokerCpuPercent, 0)} %`, String(r.outcome.errors),
    ]),
  ));
  lines.push('', '"relay" is the process between client and broker: kmp on proxy runs, the bare pipe on pipe runs.', '', '</details>');
  return lines.join('\n');
}

export function renderSvg(startedAt: Date, settings: { size: number; reps: number; pipe: boolean }, summaries: ClientSummary[]): string {
  const categories = summaries.map((s) => CLIENT_LABELS[s.client].replace(' ProducerPerformance', ' perf'));
  const ratioSeries: BarSeries[] = [
    { name: 'proxy / direct (median pair)', color: COLORS.green, values: summaries.map((s) => round(s.proxyOverDirect.median, 3)) },
  ];
  if (settings.pipe) ratioSeries.push({ name: 'pipe / direct (median pair)', color: COLORS.pipe, values: summaries.map((s) => (s.pipeOverDirect ? round(s.pipeOverDirect.median, 3) : null)) });
  return renderChart({
    title: `kmp throughput: direct to broker vs through the proxy${settings.pipe ? ' (and a bare TCP pipe, the floor)' : ''}`,
    subtitle: `${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${settings.size} B records, acks=all, idempotent · ${settings.reps} alternating repetitions each`,
    columns: settings.pipe ? 2 : 3,
    panels: [
      {
        kind: 'bars', title: 'Throughput (higher is better)', yLabel: 'MiB/s', categories, decimals: 2,
        series: [
          { name: 'direct', color: COLORS.direct, values: summaries.map((s) => round(s.direct.mibPerSec, 2)) },
          ...(settings.pipe ? [{ name: 'bare pipe', color: COLORS.pipe, values: summaries.map((s) => (s.pipe ? round(s.pipe.mibPerSec, 2) : null)) }] : []),
          { name: 'proxy', color: COLORS.proxy, values: summaries.map((s) => round(s.proxy.mibPerSec, 2)) },
        ],
      },
      {
        kind: 'bars', title: 'Latency at saturation (lower is better)', yLabel: 'ms (log scale)', categories, scale: 'log', decimals: 1,
        series: [
          { name: 'direct p99', color: COLORS.direct, values: summaries.map((s) => round(s.direct.p99, 1)) },
          ...(settings.pipe ? [{ name: 'pipe p99', color: COLORS.pipe, values: summaries.map((s) => (s.pipe ? round(s.pipe.p99, 1) : null)) }] : []),
          { name: 'proxy p99', color: COLORS.proxy, values: summaries.map((s) => round(s.proxy.p99, 1)) },
        ],
      },
      {
        kind: 'bars', title: 'Throughput as a share of direct', yLabel: 'ratio to direct', categories, decimals: 3,
        reference: { value: GOAL_RATIO, label: `goal ≥ ${GOAL_RATIO}` },
        series: ratioSeries,
      },
      ...(settings.pipe ? [{
        kind: 'bars' as const, title: 'Relay CPU per MiB forwarded (lower is better)', yLabel: 'CPU ms per MiB', categories, decimals: 1,
        series: [
          { name: 'bare pipe', color: COLORS.pipe, values: summaries.map((s) => (s.pipe ? round(s.pipe.cpuMsPerMiB, 2) : null)) },
          { name: 'proxy', color: COLORS.proxy, values: summaries.map((s) => round(s.proxy.cpuMsPerMiB, 2)) },
        ],
      }] : []),
    ],
  });
}
