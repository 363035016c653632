// `kmp consumers [--wave W]` and `kmp consumers move GROUP --wave W [--dry-run] [--back]`: the CLI side of
// consumer moves (docs/migration-runbook.md). They speak the admin API like the other commands; this file
// holds their requests and their human-readable output.
import type { AdminClient } from './admin-client.ts';
import type { WaveConsumersView } from '../consumers/consumer-listing.ts';

export interface ConsumersCommand {
  readonly args: readonly string[];
  readonly wave?: string;
  readonly back: boolean;
  readonly dryRun: boolean;
  readonly reason?: string;
}

export class ConsumersUsageError extends Error {}

export async function runConsumersCommand(client: AdminClient, cmd: ConsumersCommand): Promise<{ kind: 'list' | 'move'; body: unknown }> {
  const [sub, group, ...rest] = cmd.args;
  if (sub === undefined) {
    if (cmd.back || cmd.dryRun || cmd.reason !== undefined) throw new ConsumersUsageError('--back, --dry-run and --reason apply to "consumers move" only');
    const query = cmd.wave !== undefined ? `?wave=${encodeURIComponent(cmd.wave)}` : '';
    return { kind: 'list', body: await client.get(`/v1/consumers${query}`) };
  }
  if (sub !== 'move' || group === undefined || rest.length > 0) throw new ConsumersUsageError('consumers takes no argument, or: move GROUP --wave W [--dry-run] [--back]');
  if (cmd.wave === undefined) throw new ConsumersUsageError('consumers move needs --wave W (the wave whose topics the group reads)');
  const body = await client.request('POST', `/v1/consumers/${encodeURIComponent(group)}/move`, {
    wave: cmd.wave,
    direction: cmd.back ? 'to-source' : 'to-target',
    ...(cmd.dryRun ? { dryRun: true } : {}),
    ...(cmd.reason !== undefined ? { reason: cmd.reason } : {}),
  });
  return { kind: 'move', body };
}

/** The admin API's JSON: bigints arrive as decimal strings. */
type Json<T> = T extends bigint ? string : T extends readonly (infer E)[] ? readonly Json<E>[] : T extends object ? { readonly [K in keyof T]: Json<T[K]> } : T;

interface MoveAnswer {
  readonly group: string;
  readonly wave: string;
  readonly from: string;
  readonly to: string;
  readonly dryRun: boolean;
  readonly ready: boolean;
  readonly refusals: readonly string[];
  readonly warnings: readonly string[];
  readonly partitions: readonly {
    readonly topic: string;
    readonly partition: number;
    readonly committed: string;
    readonly lag: string;
    readonly placement: { readonly kind: string; readonly offset?: string; readonly reason?: string };
  }[];
}

export function formatConsumers(kind: 'list' | 'move', body: unknown): string {
  if (kind === 'move') return formatMove(body as MoveAnswer);
  const lines: string[] = [];
  for (const w of (body as { waves: readonly Json<WaveConsumersView>[] }).waves) {
    lines.push(`wave ${w.wave} (${w.topics.length} topic${w.topics.length === 1 ? '' : 's'})`);
    if (w.groups.length === 0) lines.push('  no consumer group has committed offsets for its topics');
    for (const g of w.groups) {
      const side = (c: 'source' | 'target') => {
        const v = g.clusters[c];
        return v === null ? `${c}: -` : `${c}: ${v.state}, ${v.members} member(s), lag ${v.lag}`;
      };
      const next = g.next.ready
        ? `ready to move ${g.next.direction === 'to-target' ? 'to the target' : 'back to the source'}`
        : `not ready${g.next.recordsToGo !== null && g.next.recordsToGo !== '0' ? `, ${g.next.recordsToGo} records to go` : ''}`;
      lines.push(`  ${g.group}  reads ${g.readsFrom}  ${side('source')}  ${side('target')}  ${next}`);
      if (!g.next.ready) for (const r of g.next.refusals) lines.push(`      ${r}`);
    }
  }
  return lines.join('\n');
}

function formatMove(m: MoveAnswer): string {
  const head = m.dryRun
    ? `dry run: group ${m.group} (wave ${m.wave}) ${m.ready ? 'can move' : 'cannot move'} from the ${m.from} to the ${m.to}; nothing was changed`
    : `moved group ${m.group} (wave ${m.wave}) from the ${m.from} to the ${m.to}`;
  const lines = [head];
  for (const p of m.partitions) {
    const to = p.placement.kind === 'exact' ? `${m.to} offset ${p.placement.offset}` : `not ready: ${p.placement.reason}`;
    lines.push(`  ${p.topic}-${p.partition}  ${m.from} offset ${p.committed} (lag ${p.lag}) -> ${to}`);
  }
  for (const r of m.refusals) lines.push(`REFUSED  ${r}`);
  for (const w of m.warnings) lines.push(`warning  ${w}`);
  return lines.join('\n');
}
