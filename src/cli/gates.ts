// `kmp prepare WAVE [--apply]` and `kmp schemas WAVE`: the gates' CLI commands (docs/gates.md). They speak the
// admin API like the other commands; this file holds their requests and their human-readable output.
import type { AdminClient } from './admin-client.ts';
import type { PreparePlan, PrepareResult } from '../gates/prepare.ts';
import type { SchemaGateReport } from '../gates/schema-gate.ts';

export interface GateCommandOptions {
  readonly apply: boolean;
  readonly replicationFactor?: number;
  readonly reason?: string;
}

export async function runGateCommand(client: AdminClient, command: 'prepare' | 'schemas', wave: string, opts: GateCommandOptions): Promise<unknown> {
  const path = `/v1/waves/${encodeURIComponent(wave)}/${command}`;
  if (command === 'schemas' || !opts.apply) return client.get(path);
  return client.request('POST', path, {
    ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
    ...(opts.replicationFactor !== undefined ? { replicationFactor: opts.replicationFactor } : {}),
  });
}

function formatSchemas(report: SchemaGateReport): string[] {
  const lines: string[] = [];
  if (report.checked.length === 0) lines.push('schemas: no schema ids seen on these topics yet (the inventory samples live traffic)');
  for (const c of report.checked) {
    lines.push(`  ${c.topic}  id ${c.id} (${c.parts.join('/')})  ${c.subjects.join(', ') || '-'}  ${c.status}${c.differences.length > 0 ? `: ${c.differences.join('; ')}` : ''}`);
  }
  for (const r of report.refusals) lines.push(`REFUSED  ${r}`);
  for (const w of report.warnings) lines.push(`warning  ${w}`);
  return lines;
}

export function formatGateResult(command: 'prepare' | 'schemas', body: unknown): string {
  if (command === 'schemas') return formatSchemas(body as SchemaGateReport).join('\n');
  const plan = body as PreparePlan & Partial<PrepareResult>;
  const lines = [`wave ${plan.wave}: ${plan.ready ? 'the target is ready' : 'the target is NOT ready'}`];
  for (const t of plan.topics) {
    const parts = `${t.sourcePartitions ?? '-'} -> ${t.targetPartitions ?? '-'} partitions`;
    lines.push(`  ${t.topic}  ${t.status}  ${parts}`);
    if (t.create !== null) {
      const cfg = Object.entries(t.create.configs).map(([k, v]) => `${k}=${v}`).join(' ');
      lines.push(`      would create with ${t.create.numPartitions} partitions${cfg === '' ? '' : `, ${cfg}`}`);
    }
    for (const d of t.configDifferences) lines.push(`      ${d.key}: ${d.source ?? 'unset'} on the source, ${d.target ?? 'unset'} on the target`);
    for (const p of t.problems) if (t.create === null) lines.push(`      problem: ${p}`);
  }
  if (plan.schemas !== null) lines.push(...formatSchemas(plan.schemas));
  if (plan.applied === true) {
    for (const c of plan.created ?? []) lines.push(`created ${c.topic} (${c.numPartitions} partitions)`);
    for (const f of plan.failed ?? []) lines.push(`FAILED to create ${f.topic}: ${f.error}`);
    if ((plan.created ?? []).length === 0 && (plan.failed ?? []).length === 0) lines.push('nothing to create');
  } else if (plan.topics.some((t) => t.status === 'missing')) {
    lines.push('run again with --apply to create the missing topics (existing topics are never changed)');
  }
  return lines.join('\n');
}
