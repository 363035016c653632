// Human-readable output of the CLI: aligned tables and short summaries of admin API answers. `--json` bypasses
// all of this and prints the API's JSON as-is.
import YAML from 'yaml';
import type { Page, WireAuditEntry, WireInventoryTopic, WireLedgerEntry, WireOperation, WireResolution, WireRoutes } from './admin-client.ts';

/** Columns padded to their widest cell, two spaces apart; the last column is not padded (no trailing blanks). */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

const list = (values: readonly string[] | undefined): string => (values === undefined || values.length === 0 ? '-' : values.join(','));
const orDash = (value: string | number | null | undefined): string => (value === null || value === undefined || value === '' ? '-' : String(value));

export function formatRoutes(routes: WireRoutes): string {
  const out: string[] = [`table version ${routes.version}, default route: ${routes.default}`, ''];
  out.push(
    routes.batches.length === 0
      ? 'no batches declared'
      : formatTable(
          ['BATCH', 'STATE', 'CLUSTER', 'TOPICS', 'PREFIXES', 'PATTERNS'],
          routes.batches.map((b) => [b.name, b.state, b.cluster, list(b.topics), list(b.prefixes), list(b.patterns)]),
        ),
  );
  if (routes.topics.length > 0) {
    out.push('', 'topic overrides:', formatTable(['TOPIC', 'STATE', 'CLUSTER', 'BATCH'], routes.topics.map((t) => [t.topic, t.state, t.cluster, orDash(t.batch)])));
  }
  if (routes.orphanedBatches.length > 0) {
    out.push('', 'in the state store but not in the config (route nothing):', formatTable(['BATCH', 'STATE'], routes.orphanedBatches.map((b) => [b.name, b.state])));
  }
  if (routes.moves.length > 0) {
    out.push(
      '',
      'moves in progress:',
      formatTable(
        ['MOVE', 'FROM', 'TO', 'PHASE', 'HELD', 'IN-FLIGHT', 'TOPICS'],
        routes.moves.map((m) => [m.label, m.from, m.to, m.phase, String(m.heldNow), String(m.inFlight), list(m.topics)]),
      ),
    );
  }
  return out.join('\n');
}

export function formatResolution(r: WireResolution): string {
  const rule = r.rule.kind === 'default' ? 'the default route' : `${r.rule.kind} rule "${r.rule.value}"`;
  return `${r.topic} → ${r.cluster}  (state ${r.state}, ${rule}${r.batch === null ? '' : `, batch ${r.batch}`}, table version ${r.version})`;
}

function targetLabel(target: { readonly kind: string; readonly name: string | null }): string {
  return target.kind === 'all' ? 'everything' : `${target.kind} ${target.name ?? ''}`;
}

export function formatOperation(op: WireOperation): string {
  const out: string[] = [];
  const head = `${op.action} of ${targetLabel(op.target)}`;
  if (op.dryRun) {
    out.push(`DRY RUN: ${head} — nothing was changed (table version ${op.version})`);
  } else {
    out.push(`${head}: ${op.outcome}, table version ${op.previousVersion} → ${op.version}`);
  }
  if (op.changes.length > 0) {
    out.push(
      formatTable(
        ['ROUTE', 'NAME', 'BEFORE', 'AFTER'],
        op.changes.map((c) => [c.kind, c.name, c.before ?? '(follows batch)', c.after ?? '(follows batch)']),
      ),
    );
  }
  if (op.move !== null) {
    const verb = op.dryRun ? 'would move' : 'moved';
    out.push(`${verb} ${op.move.from} → ${op.move.to}: ${op.move.topics.length} known topic(s)${op.move.topics.length > 0 ? `: ${op.move.topics.join(', ')}` : ''}`);
  }
  if (op.timings !== null) {
    out.push(
      `barrier: hold ${ms(op.timings.holdMs)}, drain ${ms(op.timings.drainMs)}, commit ${ms(op.timings.commitMs)}, total ${ms(op.timings.totalMs)}; ` +
        `${op.heldRequests} request(s) held, ${op.rejectedRequests} answered with a retriable error`,
    );
  }
  // Older servers do not send these two; `?.` keeps the CLI working against them.
  if (op.warmUp) {
    out.push(`warm-up: ${ms(op.warmUp.ms)}, ${op.warmUp.topics} topic(s), ${op.warmUp.connections} connection(s), ${op.warmUp.producerIds} producer id(s)${op.warmUp.notes.length > 0 ? `; ${op.warmUp.notes.join('; ')}` : ''}`);
  }
  if (op.partitionErrors) {
    const reasons = Object.entries(op.partitionErrors.reasons).map(([reason, n]) => `  - ${n}× ${reason}`);
    out.push(`partition errors answered during the move: ${op.partitionErrors.total}`, ...reasons);
  }
  const refusals = op.refusals.length > 0 ? op.refusals : [];
  if (refusals.length > 0) out.push(`${op.dryRun ? 'would be refused without --force' : 'pre-flight refusals'}:`, ...refusals.map((r) => `  - ${r}`));
  if (op.preflight !== null && op.preflight.warnings.length > 0) out.push('warnings:', ...op.preflight.warnings.map((w) => `  - ${w}`));
  if (op.forced.length > 0) out.push('forced:', ...op.forced.map((f) => `  - ${f}`));
  if (op.reconciliation) out.push('this is a reconciliation event: the source lacks the writes made to the target since the flip (see the ledger)');
  if (op.ledger.length > 0) out.push('', formatLedgerTable(op.ledger));
  return out.join('\n');
}

function ms(value: number): string {
  return `${Math.round(value * 10) / 10} ms`;
}

export function formatAudit(page: Page<WireAuditEntry>): string {
  if (page.entries.length === 0) return 'the audit is empty';
  const table = formatTable(
    ['SEQ', 'WHEN', 'WHO', 'ACTION', 'TARGET', 'OUTCOME', 'VERSION', 'REASON'],
    page.entries.map((e) => [
      String(e.seq),
      e.when,
      e.who,
      e.action,
      targetLabel(e.target),
      e.outcome,
      String(e.version),
      orDash(auditNote(e)),
    ]),
  );
  return page.total > page.entries.length ? `${table}\n(last ${page.entries.length} of ${page.total} entries)` : table;
}

/** The reason, followed by why the operation was refused or aborted, if it was. */
function auditNote(e: WireAuditEntry): string {
  const why = e.details.error ?? (e.outcome === 'refused' && e.details.refusals !== undefined ? e.details.refusals.join('; ') : undefined);
  if (why === undefined) return e.reason;
  return e.reason === '' ? why : `${e.reason} — ${why}`;
}

function formatLedgerTable(entries: readonly WireLedgerEntry[]): string {
  return formatTable(
    ['VERSION', 'TOPIC', 'PARTITION', 'FROM', 'TO', 'LAST-ON-OLD', 'FIRST-ON-NEW', 'HOLD', 'AT', 'NOTES'],
    entries.map((e) => [
      String(e.version),
      e.topic,
      String(e.partition),
      e.from,
      e.to,
      orDash(e.lastOffsetOnOld),
      orDash(e.firstOffsetOnNew),
      ms(e.holdMs),
      e.at,
      [
        e.reconciliation ? `reconcile from ${orDash(e.reconcileFromOffset)}` : '',
        e.failedDrain ? 'failed drain' : '',
      ]
        .filter((n) => n !== '')
        .join('; ') || '-',
    ]),
  );
}

export function formatLedger(page: Page<WireLedgerEntry>): string {
  if (page.entries.length === 0) return 'the ledger is empty';
  const table = formatLedgerTable(page.entries);
  return page.total > page.entries.length ? `${table}\n(last ${page.entries.length} of ${page.total} entries)` : table;
}

/** One row per (topic, producer): who writes where, with which software, how fast. */
export function formatInventory(topics: readonly WireInventoryTopic[]): string {
  const rows = topics.flatMap((t) =>
    t.producers.map((p) => [
      t.topic,
      orDash(p.clientId),
      p.software.name === null ? '-' : `${p.software.name}${p.software.version === null ? '' : ` ${p.software.version}`}`,
      p.transactional ? 'transactional' : p.idempotent ? 'idempotent' : '-',
      list(p.compressions),
      list(p.clusters),
      String(p.recordsPerSec),
      p.lastSeen,
      list(p.remoteAddresses),
    ]),
  );
  if (rows.length === 0) return 'no producers seen yet';
  return formatTable(['TOPIC', 'CLIENT-ID', 'SOFTWARE', 'PRODUCER', 'COMPRESSION', 'CLUSTERS', 'RECORDS/S', 'LAST-SEEN', 'ADDRESSES'], rows);
}

/** The status document's shape belongs to the program; YAML is a readable rendering of any of it. */
export function formatAny(value: unknown): string {
  return YAML.stringify(value, { indent: 2 }).trimEnd();
}

/**
 * `kmp status`: the health first (overall status, then one row per cluster with its state and reason), then the
 * rest of the document as YAML. A document without per-cluster health (an older proxy) is printed as is.
 */
export function formatStatus(value: unknown): string {
  const doc = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const clusters = doc.clusters as Record<string, { state?: unknown; since?: unknown; reason?: unknown }> | undefined;
  if (clusters === undefined || typeof clusters !== 'object' || !Object.values(clusters).every((c) => typeof c?.state === 'string')) return formatAny(value);
  const { status, reasons, clusters: _clusters, ready: _ready, ...rest } = doc;
  const head = `health: ${typeof status === 'string' ? status : '?'}${doc.ready === false ? ' (not ready)' : ''}`;
  const table = formatTable(
    ['CLUSTER', 'STATE', 'SINCE', 'REASON'],
    Object.entries(clusters).map(([name, c]) => [name, String(c.state), typeof c.since === 'string' ? c.since : '-', typeof c.reason === 'string' ? c.reason : '-']),
  );
  const why = Array.isArray(reasons) && reasons.length > 0 ? `\n${reasons.map((r) => `  - ${String(r)}`).join('\n')}` : '';
  return `${head}${why}\n\n${table}\n\n${formatAny(rest)}`;
}
