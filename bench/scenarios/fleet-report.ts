// The `fleet` scenario's report (bench/scenarios/fleet.ts): the Markdown tables and the SVG chart. Kept apart
// from the run so each file stays one concept.
import { table } from '../lib/report.ts';
import { fmt, median, round } from '../lib/stats.ts';
import { COLORS, renderChart, type Panel } from '../lib/svg-chart.ts';
import { CLIENT_LABELS, type ClientKind, type ClientRunOutcome } from '../clients/run-client.ts';

export type FleetPath = 'direct' | `fleet-${number}`;

export interface FleetRun {
  client: ClientKind;
  path: FleetPath;
  rep: number;
  /** throughput: closed loop; latency: paced; moves: paced while flips run. */
  kind: 'throughput' | 'latency' | 'moves';
  outcome: ClientRunOutcome;
  /** CPU of every instance together, % of one core; null for direct. */
  fleetCpuPercent: number | null;
}

export interface MoveRecord {
  index: number;
  action: 'flip' | 'rollback';
  /** The member the admin call went to. */
  via: number;
  status: number;
  callMs: number;
  members: { member: string; status: string; holdMs: number | null; heldRequests: number | null }[];
  error: string | null;
}

export interface FleetSummary {
  client: ClientKind;
  path: FleetPath;
  recordsPerSec: number;
  mibPerSec: number;
  throughputCpuPercent: number;
  p50: number;
  p99: number;
  addedP50Ms: number;
  addedP99Ms: number;
  latencyUnit: string;
  errors: number;
}

export interface FleetSettings {
  instances: number[];
  rate: number;
  seconds: number;
  size: number;
  reps: number;
  moves: number;
  interval: number;
  leaseMs: number;
  flipClient: ClientKind;
  records: Record<string, number>;
}

/** Hold per member over one fleet size's moves: median and max (ms), from the flip answers. */
export function holdsByMember(moves: readonly MoveRecord[]): { member: string; median: number; max: number; count: number }[] {
  const by = new Map<string, number[]>();
  for (const m of moves) for (const r of m.members) if (r.holdMs !== null) (by.get(r.member) ?? by.set(r.member, []).get(r.member)!).push(r.holdMs);
  return [...by].sort(([a], [b]) => a.localeCompare(b)).map(([member, holds]) => ({ member, median: median(holds), max: Math.max(...holds), count: holds.length }));
}

function movesOfSize(moves: Record<string, MoveRecord[]>, path: string): MoveRecord[] {
  return Object.entries(moves).filter(([k]) => k.startsWith(`${path} `)).flatMap(([, v]) => v);
}

export function renderFleetMarkdown(startedAt: Date, envLine: string, s: FleetSettings, summaries: readonly FleetSummary[], moves: Record<string, MoveRecord[]>, runs: readonly FleetRun[]): string {
  const lines: string[] = [];
  lines.push(`# fleet — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
  lines.push(envLine, '');
  lines.push(`Direct to the source broker vs through a kmp fleet of ${s.instances.join(' and of ')} instance(s) (fleet mode, control topics on the source, ` +
    `leaseMs ${s.leaseMs}); the clients bootstrap from instance 0 and follow Metadata to every instance. Throughput: closed loop ` +
    `(${Object.entries(s.records).map(([c, n]) => `${c} ${n.toLocaleString('en-US')}`).join(', ')} records of ${s.size} B). Latency: ${s.rate.toLocaleString('en-US')} records/s for ${s.seconds} s ` +
    `(open loop, from when a record was due). acks=all, idempotent, one producer; ${s.reps} repetition(s), medians. **Indicative only:** one shared 2-core ` +
    'machine runs both brokers, every instance and the client, so three instances compete for the same cores (their scale-out cannot show here).', '');
  lines.push(table(
    ['client', 'path', 'rec/s', 'MiB/s', 'kmp CPU ¹', 'p50 (ms)', 'p99 (ms)', 'added p50', 'added p99', 'errors'],
    summaries.map((x) => [CLIENT_LABELS[x.client], x.path, fmt(x.recordsPerSec, 0), fmt(x.mibPerSec, 2), x.path === 'direct' ? '–' : `${fmt(x.throughputCpuPercent, 0)} %`,
      fmt(x.p50, 1), fmt(x.p99, 1), x.path === 'direct' ? '–' : fmt(x.addedP50Ms, 2), x.path === 'direct' ? '–' : fmt(x.addedP99Ms, 2), String(x.errors)]),
  ));
  lines.push('', '¹ CPU of all instances together during the throughput run, % of one core. kafkajs latency is per 10 ms tick; Java reports whole milliseconds.');
  if (summaries.some((x) => x.path !== 'direct' && (x.addedP50Ms < 0 || x.addedP99Ms < 0))) {
    lines.push('', 'A negative "added" latency (or a fleet faster than direct) means the direct runs met a busier moment of the shared machine ' +
      '(see the load average) than the fleet runs: the difference is below the noise of this run. More `--reps` alternate the order.');
  }
  lines.push('');
  lines.push(`## Flip hold per member (${s.moves} moves per fleet size, ${s.interval} s apart, ${CLIENT_LABELS[s.flipClient]} at ${s.rate}/s)`, '');
  const holdRows: string[][] = [];
  for (const n of s.instances) {
    const ms = movesOfSize(moves, `fleet-${n}`);
    const ok = ms.filter((m) => m.status === 200).length;
    for (const h of holdsByMember(ms)) holdRows.push([`fleet-${n}`, h.member, String(h.count), fmt(h.median, 0), fmt(h.max, 0), `${ok}/${ms.length}`, fmt(median(ms.map((m) => m.callMs)), 0)]);
    if (ms.length > 0 && holdsByMember(ms).length === 0) holdRows.push([`fleet-${n}`, '–', '0', '–', '–', `${ok}/${ms.length}`, fmt(median(ms.map((m) => m.callMs)), 0)]);
  }
  lines.push(table(['fleet', 'member', 'holds', 'median hold (ms)', 'max hold (ms)', 'moves 200', 'admin call median (ms)'], holdRows));
  const during = runs.filter((r) => r.kind === 'moves');
  if (during.length > 0) {
    lines.push('', `Producer latency during the moves (includes the holds): ${during.map((r) => `${r.path} rep ${r.rep} p99 ${fmt(r.outcome.latency.p99, 1)} ms, max ${fmt(r.outcome.latency.max, 0)} ms, errors ${r.outcome.errors}`).join('; ')}.`);
  }
  lines.push('', '<details><summary>Every move</summary>', '');
  lines.push(table(['fleet', '#', 'action', 'via', 'status', 'call (ms)', 'holds (ms) per member'],
    Object.entries(moves).flatMap(([k, ms]) => ms.map((m) => [k, String(m.index), m.action, `kmp-${m.via}`, m.error === null ? String(m.status) : `${m.status} ${m.error}`, fmt(m.callMs, 0),
      m.members.map((r) => `${r.member} ${r.status} ${r.holdMs === null ? '–' : fmt(r.holdMs, 0)}`).join(', ')]))));
  lines.push('', '</details>');
  return lines.join('\n');
}

export function renderFleetSvg(startedAt: Date, s: FleetSettings, summaries: readonly FleetSummary[], moves: Record<string, MoveRecord[]>): string {
  const clients = [...new Set(summaries.map((x) => x.client))];
  const paths = [...new Set(summaries.map((x) => x.path))];
  const colors = [COLORS.direct, COLORS.proxy, COLORS.purple, COLORS.green, COLORS.grey];
  const value = (client: ClientKind, path: string, f: (x: FleetSummary) => number) => {
    const x = summaries.find((y) => y.client === client && y.path === path);
    return x === undefined || !Number.isFinite(f(x)) ? null : round(f(x), 1);
  };
  const panels: Panel[] = [
    { kind: 'bars', title: 'Throughput (closed loop)', yLabel: 'MiB/s', categories: clients.map((c) => CLIENT_LABELS[c]), decimals: 1,
      series: paths.map((p, i) => ({ name: p, color: colors[i % colors.length], values: clients.map((c) => value(c, p, (x) => x.mibPerSec)) })) },
    { kind: 'bars', title: `p99 latency at ${s.rate} records/s`, yLabel: 'ms (log scale)', scale: 'log', categories: clients.map((c) => CLIENT_LABELS[c]), decimals: 1,
      series: paths.map((p, i) => ({ name: p, color: colors[i % colors.length], values: clients.map((c) => value(c, p, (x) => x.p99)) })) },
  ];
  const holdCats = s.instances.map((n) => `fleet-${n}`);
  panels.push({ kind: 'bars', title: 'Flip hold per member', yLabel: 'ms', categories: holdCats, decimals: 0,
    series: [
      { name: 'median', color: COLORS.green, values: holdCats.map((p) => { const h = holdsByMember(movesOfSize(moves, p)); return h.length === 0 ? null : round(median(h.map((x) => x.median)), 0); }) },
      { name: 'max', color: COLORS.red, values: holdCats.map((p) => { const h = holdsByMember(movesOfSize(moves, p)); return h.length === 0 ? null : Math.max(...h.map((x) => x.max)); }) },
    ] });
  return renderChart({
    title: 'kmp fleet: direct vs 1 vs 3 instances',
    subtitle: `${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${s.size} B, acks=all · one shared 2-core machine: indicative`,
    columns: 3,
    panels,
  });
}
