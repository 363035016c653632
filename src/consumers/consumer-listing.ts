// `kmp consumers [--wave W]` / GET /v1/consumers: per wave, the groups with committed offsets for its topics on
// either cluster, where each reads from, its lag on each cluster, and whether it can move now (the same plan
// `kmp consumers move` would make, so the list never promises a move that would be refused).
import type { Cluster } from '../../routing/cluster.ts';
import { isIdle, type CommittedOffset } from './group-client.ts';
import { planMove, type ConsumerDeps } from './consumer-moves.ts';
import { readsFrom, type ReadsFrom } from './reads-from.ts';
import type { MoveDirection } from './offset-translation.ts';

export interface ClusterGroupView {
  readonly state: string;
  readonly members: number;
  /** Partitions of the wave's topics with a committed offset. */
  readonly partitions: number;
  /** Records behind the log end over those partitions. */
  readonly lag: bigint;
}

export interface ConsumerGroupView {
  readonly group: string;
  readonly readsFrom: ReadsFrom;
  readonly clusters: { readonly [C in Cluster]: ClusterGroupView | null };
  /** The move that would come next: to the target for a group that reads the source, else back. */
  readonly next: {
    readonly direction: MoveDirection;
    readonly ready: boolean;
    /** Offsets still to read before it is ready (sum over partitions; null when some cannot become ready by reading). */
    readonly recordsToGo: bigint | null;
    readonly refusals: readonly string[];
  };
}

export interface WaveConsumersView {
  readonly wave: string;
  readonly topics: readonly string[];
  readonly groups: readonly ConsumerGroupView[];
}

const CLUSTERS: readonly Cluster[] = ['source', 'target'];
const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export async function listWaveConsumers(deps: ConsumerDeps, wave: string): Promise<WaveConsumersView> {
  const topics = [...(await deps.waveTopics(wave))].sort();
  const inWave = new Set(topics);
  // Groups that only exist as offsets (protocol type "") are listed too: kmp's own moves create such groups.
  const listed = await Promise.all(CLUSTERS.map(async (c) => (await deps.groups[c].listGroups()).filter((g) => g.protocolType === 'consumer' || g.protocolType === '')));
  const names = [...new Set(listed.flat().map((g) => g.groupId))].sort();
  const ends = new Map<string, Promise<Map<number, bigint>>>();
  const endOf = (c: Cluster, topic: string) => {
    const k = `${c}\u0000${topic}`;
    let p = ends.get(k);
    if (p === undefined) {
      p = deps.groups[c].endOffsets(topic);
      ends.set(k, p);
    }
    return p;
  };
  const views: ConsumerGroupView[] = [];
  for (const group of names) {
    const offsets: Record<Cluster, CommittedOffset[]> = { source: [], target: [] };
    for (const [i, c] of CLUSTERS.entries()) {
      if (listed[i].some((g) => g.groupId === group)) offsets[c] = (await deps.groups[c].committedOffsets(group)).filter((o) => inWave.has(o.topic));
    }
    if (offsets.source.length === 0 && offsets.target.length === 0) continue;
    const descriptions = await Promise.all(CLUSTERS.map((c) => deps.groups[c].describe(group)));
    const clusters = {} as { [C in Cluster]: ClusterGroupView | null };
    for (const [i, c] of CLUSTERS.entries()) {
      const d = descriptions[i];
      if (d.state === null && offsets[c].length === 0) {
        clusters[c] = null;
        continue;
      }
      let lag = 0n;
      for (const o of offsets[c]) {
        const end = (await endOf(c, o.topic)).get(o.partition) ?? 0n;
        if (end > o.offset) lag += end - o.offset;
      }
      clusters[c] = { state: d.state ?? 'Empty', members: d.members.length, partitions: offsets[c].length, lag };
    }
    const reads = readsFrom({
      sourceActive: !isIdle(descriptions[0]),
      targetActive: !isIdle(descriptions[1]),
      source: new Map(offsets.source.map((o) => [key(o.topic, o.partition), o.offset])),
      target: new Map(offsets.target.map((o) => [key(o.topic, o.partition), o.offset])),
      entries: (k) => {
        const [topic, partition] = k.split('\u0000');
        return deps.syncMap.entries(topic, Number(partition));
      },
      lastMove: deps.lastMove?.(group) ?? null,
    });
    const direction: MoveDirection = reads === 'target' ? 'to-source' : 'to-target';
    const plan = await planMove(deps, { group, wave, direction });
    let recordsToGo: bigint | null = 0n;
    for (const p of plan.partitions) {
      if (p.placement.kind !== 'not-ready') continue;
      recordsToGo = recordsToGo === null || p.placement.recordsToGo === null ? null : recordsToGo + p.placement.recordsToGo;
    }
    views.push({ group, readsFrom: reads, clusters, next: { direction, ready: plan.ready, recordsToGo, refusals: plan.refusals } });
  }
  return { wave, topics, groups: views };
}
