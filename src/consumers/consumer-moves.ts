// Moving a consumer group between the clusters at exact offsets (docs/migration-runbook.md, "Moving consumer
// groups"). Like Kafka's own offset reset it needs a stopped group: with members, the group's position moves
// under them. The steps:
//   1 the group must have no members on either cluster (its consumers are stopped);
//   2 read its committed offsets on the cluster it stopped on (only the wave's topics: offsets for other
//     topics are a refusal, because its consumers will restart against the other cluster for all of them);
//   3 place each offset on the other cluster through the sync map (offset-translation.ts): a partition whose
//     remaining records are not all copies yet is "not ready, N records to go";
//   4 dry run: return the plan; otherwise commit the offsets on the other cluster (generation -1, empty member:
//     the coordinator itself refuses it if a member joined meanwhile), read them back, and check that the group
//     stayed stopped on the cluster it left;
//   5 record the move (or the refusal) in the audit.
import type { Cluster } from '../../routing/cluster.ts';
import type { AuditEntry } from '../../routing/route-state.ts';
import type { SyncMapPort } from './sync-map-port.ts';
import { clustersOf, placeOffset, type MoveDirection, type Placement } from './offset-translation.ts';
import { isIdle, type CommittedOffset, type GroupClient, type GroupDescription } from './group-client.ts';
import { ConsumerInputError, ConsumerMoveRefusedError } from './errors.ts';

/** The group requests of one cluster (GroupClient; a fake in unit tests). */
export type GroupApi = Pick<GroupClient, 'listGroups' | 'describe' | 'committedOffsets' | 'commitOffsets' | 'endOffsets'>;

export type AuditNote = Pick<AuditEntry, 'who' | 'action' | 'target' | 'reason' | 'outcome' | 'details'>;

export interface ConsumerDeps {
  readonly groups: Readonly<Record<Cluster, GroupApi>>;
  readonly syncMap: SyncMapPort;
  /** The wave's topics (a batch of the routes config); throws ConsumerNotFoundError for an unknown wave. */
  readonly waveTopics: (wave: string) => Promise<readonly string[]>;
  /** Appends to the control plane's audit trail. */
  readonly audit: (entry: AuditNote) => Promise<unknown>;
  /** Direction of the newest successful move of a group recorded in the audit, if any. */
  readonly lastMove?: (group: string) => MoveDirection | null;
}

export interface MoveRequest {
  readonly group: string;
  readonly wave: string;
  readonly direction: MoveDirection;
  readonly dryRun: boolean;
  readonly who: string;
  readonly reason: string;
}

export interface PartitionMove {
  readonly topic: string;
  readonly partition: number;
  /** Committed offset on the cluster the group leaves. */
  readonly committed: bigint;
  readonly fromEnd: bigint;
  readonly toEnd: bigint;
  /** Records the group has not read yet on the cluster it leaves. */
  readonly lag: bigint;
  readonly placement: Placement;
}

export interface MovePlan {
  readonly group: string;
  readonly wave: string;
  readonly direction: MoveDirection;
  readonly from: Cluster;
  readonly to: Cluster;
  readonly state: { readonly [C in Cluster]: string | null };
  readonly partitions: readonly PartitionMove[];
  /** Empty when the group can move. */
  readonly refusals: readonly string[];
  readonly ready: boolean;
}

export interface MoveResult extends MovePlan {
  readonly dryRun: boolean;
  readonly outcome: 'planned' | 'ok';
  /** Offsets committed on `to` (read back from its coordinator); empty for a dry run. */
  readonly committed: readonly { readonly topic: string; readonly partition: number; readonly offset: bigint }[];
  /** Problems seen after the commit (the group restarted on the cluster it left meanwhile, …). */
  readonly warnings: readonly string[];
}

const GROUP_ID = /^[\x21-\x7e]{1,249}$/;

export function checkGroupId(group: unknown): string {
  if (typeof group !== 'string' || !GROUP_ID.test(group)) {
    throw new ConsumerInputError(`group: "${String(group)}" is not a consumer group id kmp can move (1-249 printable ASCII characters, no spaces)`);
  }
  return group;
}

function describeMembers(d: GroupDescription): string {
  const shown = d.members.slice(0, 3).map((m) => `${m.clientId}@${m.clientHost}`);
  const more = d.members.length > 3 ? ` and ${d.members.length - 3} more` : '';
  return d.members.length === 0 ? `state ${d.state}` : `state ${d.state}, ${d.members.length} member(s): ${shown.join(', ')}${more}`;
}

/** Steps 1-3: what a move would do, with every reason to refuse it. Changes nothing. */
export async function planMove(deps: ConsumerDeps, req: Pick<MoveRequest, 'group' | 'wave' | 'direction'>): Promise<MovePlan> {
  const group = checkGroupId(req.group);
  const { from, to } = clustersOf(req.direction);
  const topics = new Set(await deps.waveTopics(req.wave));
  const [fromDesc, toDesc, offsets] = await Promise.all([
    deps.groups[from].describe(group),
    deps.groups[to].describe(group),
    deps.groups[from].committedOffsets(group),
  ]);
  const refusals: string[] = [];
  if (!isIdle(fromDesc)) {
    refusals.push(`group "${group}" is not empty on the ${from} (${describeMembers(fromDesc)}): stop its consumers first; kmp moves only stopped groups, like kafka-consumer-groups --reset-offsets`);
  }
  if (!isIdle(toDesc)) {
    refusals.push(`group "${group}" has members on the ${to} (${describeMembers(toDesc)}): committing offsets there would move them under running consumers; stop them first`);
  }
  const inWave = offsets.filter((o) => topics.has(o.topic));
  const outside = [...new Set(offsets.filter((o) => !topics.has(o.topic)).map((o) => o.topic))].sort();
  if (inWave.length === 0) {
    refusals.push(`group "${group}" has no committed offsets for the topics of wave "${req.wave}" on the ${from}: nothing to move`);
  }
  if (outside.length > 0) {
    refusals.push(`group "${group}" also has committed offsets for topics outside wave "${req.wave}" on the ${from} (${outside.join(', ')}): its consumers restart against the ${to} for every topic, so move those topics in the same wave first`);
  }
  const partitions = await placeAll(deps, req.direction, inWave);
  for (const p of partitions) {
    if (p.placement.kind === 'not-ready') refusals.push(`${p.topic}-${p.partition}: not ready, ${p.placement.reason}`);
  }
  return {
    group, wave: req.wave, direction: req.direction, from, to,
    state: { [from]: fromDesc.state, [to]: toDesc.state } as { [C in Cluster]: string | null },
    partitions, refusals, ready: refusals.length === 0,
  };
}

/** Places every committed offset of the wave's topics; log ends are read once per topic and cluster. */
export async function placeAll(deps: ConsumerDeps, direction: MoveDirection, offsets: readonly CommittedOffset[]): Promise<PartitionMove[]> {
  const { from, to } = clustersOf(direction);
  const topics = [...new Set(offsets.map((o) => o.topic))];
  const ends = new Map<string, { from: Map<number, bigint>; to: Map<number, bigint> }>();
  await Promise.all(topics.map(async (t) => {
    const [f, d] = await Promise.all([deps.groups[from].endOffsets(t), deps.groups[to].endOffsets(t)]);
    ends.set(t, { from: f, to: d });
  }));
  return offsets.map((o) => {
    const e = ends.get(o.topic);
    const fromEnd = e?.from.get(o.partition) ?? 0n;
    const toEnd = e?.to.get(o.partition) ?? 0n;
    const placement: Placement = e?.to.has(o.partition) === false
      ? { kind: 'not-ready', recordsToGo: null, reason: `the ${to} has no partition ${o.partition} of ${o.topic}` }
      : placeOffset({ entries: deps.syncMap.entries(o.topic, o.partition), direction, committed: o.offset, fromEnd, toEnd });
    return { topic: o.topic, partition: o.partition, committed: o.offset, fromEnd, toEnd, lag: fromEnd > o.offset ? fromEnd - o.offset : 0n, placement };
  });
}

/** Steps 1-5. Throws ConsumerMoveRefusedError (409) with the plan when the group cannot move. */
export async function moveGroup(deps: ConsumerDeps, req: MoveRequest): Promise<MoveResult> {
  if (typeof req.who !== 'string' || req.who === '') throw new ConsumerInputError('who: the operator (token name) is required');
  const plan = await planMove(deps, req);
  const target = { kind: 'group' as const, name: plan.group };
  const base = { who: req.who, action: 'consumer-move' as const, target, reason: req.reason };
  const details = { wave: req.wave, direction: req.direction, topics: [...new Set(plan.partitions.map((p) => p.topic))], partitions: plan.partitions.length };
  if (req.dryRun) return { ...plan, dryRun: true, outcome: 'planned', committed: [], warnings: [] };
  if (!plan.ready) {
    await deps.audit({ ...base, outcome: 'refused', details: { ...details, refusals: [...plan.refusals] } });
    throw new ConsumerMoveRefusedError(
      `move of group "${plan.group}" to the ${plan.to} refused: ${plan.refusals.length} reason(s); nothing was changed`,
      plan.refusals,
      plan,
    );
  }
  const wanted = plan.partitions.map((p) => ({
    topic: p.topic,
    partition: p.partition,
    // placement is exact here: plan.ready means no partition is not-ready
    offset: p.placement.kind === 'exact' ? p.placement.offset : p.committed,
  }));
  const metadata = new Map((await deps.groups[plan.from].committedOffsets(plan.group)).map((o) => [`${o.topic}\u0000${o.partition}`, o]));
  try {
    await deps.groups[plan.to].commitOffsets(plan.group, wanted.map((w) => ({ ...w, metadata: metadata.get(`${w.topic}\u0000${w.partition}`)?.metadata ?? null })));
  } catch (error) {
    await deps.audit({ ...base, outcome: 'aborted', details: { ...details, error: error instanceof Error ? error.message : String(error) } });
    throw error;
  }
  const warnings = await afterCommit(deps, plan, wanted);
  const offsets = plan.partitions.map((p, i) => ({ topic: p.topic, partition: p.partition, from: p.committed.toString(), to: wanted[i].offset.toString() }));
  await deps.audit({ ...base, outcome: 'ok', details: { ...details, offsets, ...(warnings.length > 0 ? { warnings } : {}) } });
  return { ...plan, dryRun: false, outcome: 'ok', committed: wanted, warnings };
}

/** Reads the commit back, and checks that the group stayed stopped and in place on the cluster it left. */
async function afterCommit(deps: ConsumerDeps, plan: MovePlan, wanted: readonly { topic: string; partition: number; offset: bigint }[]): Promise<string[]> {
  const warnings: string[] = [];
  const [onTo, fromDesc, onFrom] = await Promise.all([
    deps.groups[plan.to].committedOffsets(plan.group),
    deps.groups[plan.from].describe(plan.group),
    deps.groups[plan.from].committedOffsets(plan.group),
  ]);
  const key = (t: string, p: number) => `${t}\u0000${p}`;
  const toNow = new Map(onTo.map((o) => [key(o.topic, o.partition), o.offset]));
  for (const w of wanted) {
    const got = toNow.get(key(w.topic, w.partition));
    if (got !== w.offset) warnings.push(`${w.topic}-${w.partition}: the ${plan.to} reads back offset ${got ?? 'none'}, not ${w.offset}`);
  }
  const fromNow = new Map(onFrom.map((o) => [key(o.topic, o.partition), o.offset]));
  const moved = plan.partitions.filter((p) => fromNow.get(key(p.topic, p.partition)) !== p.committed);
  if (!isIdle(fromDesc) || moved.length > 0) {
    warnings.push(`group "${plan.group}" was started on the ${plan.from} during the move (${moved.length} partition(s) progressed): stop it and move it again`);
  }
  return warnings;
}
