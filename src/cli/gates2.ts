// CLI of gates part 2 (docs/gates.md): `kmp bypass`, `kmp flip WAVE --canary …` with its progress line,
// `kmp status --topic T`, `kmp operations [ID]`. Requests go through the admin API like every other command.
import type { AdminClient, WriteRequest } from './admin-client.ts';
import { formatTable } from './format.ts';
import type { BypassReport } from '../gates/bypass-detector.ts';
import type { CanaryView } from '../gates/canary.ts';
import type { WindowFigures } from '../gates/topic-evidence.ts';

export class CliValueError extends Error {}

/** "60s", "2m", "1500ms", "1h"; a bare number is seconds. */
export function parseDurationMs(name: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (m === null) throw new CliValueError(`${name}: expected a duration like 60s, 2m or 1500ms, got "${raw}"`);
  const n = Number(m[1]);
  const ms = n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (!(ms > 0)) throw new CliValueError(`${name}: must be positive`);
  return Math.round(ms);
}

/** "0.1%" → 0.001; "0.001" → 0.001. */
export function parseRate(name: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(raw.trim());
  if (m === null) throw new CliValueError(`${name}: expected a rate like 0.1% or 0.001, got "${raw}"`);
  const r = m[2] === '%' ? Number(m[1]) / 100 : Number(m[1]);
  if (r > 1) throw new CliValueError(`${name}: at most 100% (1), got "${raw}"`);
  return r;
}

export interface CanaryArgs {
  readonly topics: readonly string[];
  readonly watchMs: number;
  readonly maxErrorRate: number;
  readonly maxP99Ms?: number;
}

const pct = (r: number | null | undefined): string => (r === null || r === undefined ? '-' : `${Math.round(r * 10_000) / 100}%`);
const msOf = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${v} ms`);

export function progressLine(op: CanaryView): string {
  const t = op.figures.total;
  const figures = t === null ? '' : `  writes ${t.writes}  failed ${t.failed} (${pct(t.errorRate)})  p99 ${msOf(t.p99Ms)}`;
  const watch = op.phase === 'watching' ? ` ${Math.round(op.watchedMs / 1000)}/${Math.round(op.rules.watchMs / 1000)} s` : '';
  return `canary ${op.id} ${op.wave}: ${op.phase}${watch}${figures}`;
}

export function formatCanary(op: CanaryView): string {
  const lines = [progressLine(op)];
  if (op.breach !== null) lines.push(`breach: ${op.breach}`);
  for (const w of op.warnings) lines.push(`warning: ${w}`);
  if (op.error !== null) lines.push(`error: ${op.error}`);
  const rows = Object.entries(op.figures.topics).map(([topic, f]) => [topic, String(f.writes), String(f.failed), pct(f.errorRate), msOf(f.p50Ms), msOf(f.p99Ms), Object.entries(f.errors).map(([n, c]) => `${n}x${c}`).join(',') || '-']);
  if (rows.length > 0) lines.push('', formatTable(['CANARY TOPIC', 'WRITES', 'FAILED', 'ERROR-RATE', 'P50', 'P99', 'ERRORS'], rows));
  lines.push('', ...op.steps.map((s) => `${s.at}  ${s.what}`));
  if (op.waveFlip !== null) lines.push(`wave flipped: table version ${op.waveFlip.version}, ${op.waveFlip.topics.length} topic(s), hold ${msOf(op.waveFlip.holdMs === null ? null : Math.round(op.waveFlip.holdMs * 10) / 10)}`);
  return lines.join('\n');
}

const FINISHED = new Set(['done', 'rolled-back', 'failed']);

/**
 * Starts the canary flip and follows it until it finishes, writing a progress line to `progress` (rewritten in
 * place on a terminal, one line per change otherwise). Returns the final view (or a dry run's plan).
 */
export async function runCanaryFlip(client: AdminClient, wave: string, canary: CanaryArgs, write: WriteRequest, progress: NodeJS.WriteStream, pollMs = 1000): Promise<{ final: CanaryView | null; body: unknown }> {
  const body = await client.request('POST', `/v1/batches/${encodeURIComponent(wave)}/flip`, { ...write, canary });
  if (write.dryRun === true) return { final: null, body };
  let op = body as CanaryView;
  let last = '';
  const tty = progress.isTTY === true;
  for (;;) {
    const line = progressLine(op);
    if (tty) progress.write(`\r\u001b[2K${line}`);
    else if (line.replace(/ \d+\/\d+ s/, '') !== last.replace(/ \d+\/\d+ s/, '') || FINISHED.has(op.phase)) progress.write(`${line}\n`);
    last = line;
    if (FINISHED.has(op.phase)) break;
    await new Promise((r) => setTimeout(r, pollMs));
    op = (await client.get(`/v1/operations/${encodeURIComponent(op.id)}`)) as CanaryView;
  }
  if (tty) progress.write('\n');
  return { final: op, body: op };
}

export function formatBypass(r: BypassReport): string {
  const head = `bypass detection: watching ${r.watching.partitions} partition(s) of ${r.watching.topics} topic(s) every ${r.intervalMs} ms; last check ${r.lastCheck ?? 'never'}${r.lastCheckMs === null ? '' : ` (${r.lastCheckMs} ms)`}`;
  const lines = [head];
  if (r.fleetAlarms.length > 0) {
    lines.push('', 'FLEET ALARM: kmp instances still writing on an old route:');
    lines.push(formatTable(['AT', 'TOPIC', 'PARTITION', 'CLUSTER', 'MEMBER', 'PRODUCER-ID'], r.fleetAlarms.map((a) => [a.at, a.topic, String(a.partition), a.cluster, a.member, a.producerId])));
  }
  if (r.active.length === 0) lines.push(`no bypass writes in the last ${Math.round(r.windowMs / 1000)} s`);
  else {
    lines.push('', `BYPASS: writes kmp did not make, within the last ${Math.round(r.windowMs / 1000)} s:`);
    lines.push(formatTable(['TOPIC', 'CLUSTER', 'PARTITIONS', 'OFFSETS', 'PRODUCER-IDS', 'LAST-SEEN'], r.active.map((b) => [
      b.topic, b.cluster, b.partitions.join(','), b.offsets, [...b.producerIds, ...(b.unattributed ? ['(no id)'] : [])].join(',') || '-', b.lastSeen,
    ])));
  }
  for (const e of r.errors) lines.push(`unreadable: ${e}`);
  return lines.join('\n');
}

interface TopicStatusBody {
  readonly topic: string;
  readonly route: { readonly cluster: string; readonly state: string; readonly batch: string | null; readonly version: number };
  readonly evidence: Readonly<Record<string, { writes: number; failed: number; records: number; errors: Record<string, number>; recent: WindowFigures; eventAgeMs: number | null; lastWrite: string | null }>>;
  readonly bypass: { readonly offsets: string; readonly producerIds: readonly string[]; readonly lastSeen: string; readonly unattributed: boolean } | null;
  readonly schemaIds: readonly { readonly id: number; readonly samples: number; readonly parts?: readonly string[]; readonly subjects?: readonly string[] }[];
  readonly producers: number;
}

export function formatTopicStatus(body: unknown): string {
  const s = body as TopicStatusBody;
  const lines = [`${s.topic} → ${s.route.cluster} (state ${s.route.state}${s.route.batch === null ? '' : `, wave ${s.route.batch}`}, table version ${s.route.version}); ${s.producers} producer(s) seen`];
  const rows = Object.entries(s.evidence).map(([cluster, e]) => [
    cluster, `${e.recent.recordsPerSec}`, String(e.recent.writes), pct(e.recent.errorRate), msOf(e.recent.p50Ms), msOf(e.recent.p99Ms),
    e.eventAgeMs === null ? '-' : `${e.eventAgeMs} ms`, `${e.records}/${e.failed}`, Object.entries(e.errors).map(([n, c]) => `${n}x${c}`).join(',') || '-',
  ]);
  lines.push('', rows.length === 0
    ? 'no produce traffic seen for this topic by this instance'
    : formatTable(['CLUSTER', 'RECORDS/S', 'WRITES', 'ERROR-RATE', 'P50', 'P99', 'EVENT-AGE', 'RECORDS/FAILED', 'ERRORS'], rows));
  lines.push('(rates and latencies: the last 10 s interval; RECORDS/FAILED: since start)');
  if (s.schemaIds.length > 0) {
    lines.push('', formatTable(['SCHEMA-ID', 'PARTS', 'SAMPLES', 'SUBJECTS'], s.schemaIds.map((i) => [String(i.id), (i.parts ?? []).join('/') || '-', String(i.samples), (i.subjects ?? []).join(',') || '-'])));
  } else lines.push('', 'schema ids: none seen in sampled records');
  if (s.bypass !== null) lines.push('', `bypass: ${s.bypass.offsets} offsets written straight to the old cluster by ${[...s.bypass.producerIds, ...(s.bypass.unattributed ? ['a producer without id'] : [])].join(', ')}, last at ${s.bypass.lastSeen}`);
  return lines.join('\n');
}
