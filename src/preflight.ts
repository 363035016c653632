// Checks before topics move to another cluster (docs/design.md §2, issue "gates"): a topic must exist on the
// destination with the same partition count (otherwise keys would land in other partitions: refused), and
// differences in the configs that change what producers or consumers see are reported as warnings.
// A topic that exists on neither cluster (deleted after kmp saw it, which keeps it among the wave's known topics)
// is skipped with a warning: there is nothing to check and nothing to move, and refusing would block its wave
// until a restart (issue #11 point 3).
import type { Cluster } from '../routing/cluster.ts';
import type { PreflightResult } from '../routing/control-plane.ts';
import type { ClusterClient } from './upstream/cluster-client.ts';
import { ErrorCode } from '../protocol/kafka-errors.ts';

export const COMPARED_CONFIGS = [
  'cleanup.policy',
  'max.message.bytes',
  'min.insync.replicas',
  'retention.ms',
  'compression.type',
  'message.timestamp.type',
] as const;


export function createPreflight(clusters: Record<Cluster, ClusterClient>) {
  return async (topics: readonly string[], to: Cluster): Promise<PreflightResult> => {
    const from: Cluster = to === 'target' ? 'source' : 'target';
    const refusals: string[] = [];
    const warnings: string[] = [];
    const present: string[] = [];
    await Promise.all(topics.map(async (topic) => {
      const [src, dst] = await Promise.all([clusters[from].topic(topic, { refresh: true }), clusters[to].topic(topic, { refresh: true })]);
      if (src.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION && dst.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
        warnings.push(`${topic}: exists on neither cluster (deleted?): skipped`);
        return;
      }
      if (dst.errorCode !== ErrorCode.NONE) {
        refusals.push(`${topic}: does not exist on ${to} (error ${dst.errorCode}); create it with ${src.errorCode === ErrorCode.NONE ? src.partitions.length : 'the same'} partitions first`);
        return;
      }
      if (src.errorCode !== ErrorCode.NONE) {
        warnings.push(`${topic}: does not exist on ${from}`);
        return;
      }
      if (src.partitions.length !== dst.partitions.length) {
        refusals.push(`${topic}: ${src.partitions.length} partitions on ${from}, ${dst.partitions.length} on ${to}: keys would move to other partitions`);
        return;
      }
      present.push(topic);
    }));
    if (present.length > 0) {
      const [a, b] = await Promise.all([
        clusters[from].topicConfigs(present, COMPARED_CONFIGS),
        clusters[to].topicConfigs(present, COMPARED_CONFIGS),
      ]);
      for (const topic of present) {
        for (const key of COMPARED_CONFIGS) {
          const va = a.get(topic)?.get(key);
          const vb = b.get(topic)?.get(key);
          if (va !== vb) warnings.push(`${topic}: ${key} is ${va ?? 'unset'} on ${from}, ${vb ?? 'unset'} on ${to}`);
        }
      }
    }
    refusals.sort();
    warnings.sort();
    return { refusals, warnings };
  };
}
