// `kmp prepare WAVE [--apply]` (issue #15 item 1): what the target cluster lacks before a wave (a batch of the
// routes config) can move there, and — with apply — creating what is missing. The plan lists, per topic of the
// wave: missing on the target, partition counts, the configs that change what producers and consumers see, and
// (when registries are configured) the schema ids in use that the target registry does not resolve the same way.
//
// Apply only ever creates topics that the target lacks, with the source's partition count and the source's
// values of PREPARED_CONFIGS written explicitly: the target must behave as the source does whatever its broker
// defaults are. An existing topic is never altered (a differing one is reported for a human to decide).
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { Cluster } from '../../routing/cluster.ts';
import type { SchemaGateReport } from './schema-gate.ts';

/** The topic configs prepare compares and copies (retention in time and size). */
export const PREPARED_CONFIGS = [
  'cleanup.policy',
  'retention.ms',
  'retention.bytes',
  'min.insync.replicas',
  'max.message.bytes',
  'compression.type',
  'message.timestamp.type',
] as const;

/** The part of ClusterClient prepare needs (so tests and other callers can supply their own). */
export interface PrepareCluster {
  topic(name: string, opts: { refresh: boolean }): Promise<{ errorCode: number; partitions: readonly unknown[] }>;
  topicConfigs(topics: readonly string[], keys: readonly string[]): Promise<Map<string, Map<string, string | null>>>;
  createTopics(
    topics: readonly { name: string; numPartitions: number; replicationFactor: number; configs: Readonly<Record<string, string>> }[],
  ): Promise<{ name: string; errorCode: number; errorMessage: string | null }[]>;
}

export interface PrepareDeps {
  readonly clusters: Record<Cluster, PrepareCluster>;
  /** Topics of the wave (a batch of the routes config); throws for an unknown wave. */
  readonly waveTopics: (wave: string) => Promise<readonly string[]>;
  /** The schema gate for these topics; absent when no registries are configured. */
  readonly schemas?: (topics: readonly string[]) => Promise<SchemaGateReport>;
  /** Records an applied prepare (who, what was created). */
  readonly audit: (entry: PrepareAuditEntry) => Promise<void>;
}

export type TopicPlanStatus = 'missing' | 'present' | 'absent-on-source';

export interface ConfigDifference {
  readonly key: string;
  readonly source: string | null;
  readonly target: string | null;
}

export interface TopicPlan {
  readonly topic: string;
  readonly status: TopicPlanStatus;
  readonly sourcePartitions: number | null;
  readonly targetPartitions: number | null;
  /** present: configs that differ. */
  readonly configDifferences: readonly ConfigDifference[];
  /** missing: what apply would create. */
  readonly create: { readonly numPartitions: number; readonly configs: Readonly<Record<string, string>> } | null;
  /** Why a flip of this topic would be refused as things stand (partition counts, missing topic). */
  readonly problems: readonly string[];
}

export interface PreparePlan {
  readonly wave: string;
  readonly topics: readonly TopicPlan[];
  readonly schemas: SchemaGateReport | null;
  /** True when the target has everything: no missing topic, no partition mismatch, no schema refusal. */
  readonly ready: boolean;
}

export interface PrepareResult extends PreparePlan {
  readonly applied: boolean;
  readonly created: readonly { readonly topic: string; readonly numPartitions: number; readonly configs: Readonly<Record<string, string>> }[];
  readonly failed: readonly { readonly topic: string; readonly error: string }[];
}

export interface PrepareAuditEntry {
  readonly action: 'prepare';
  readonly wave: string;
  readonly who: string;
  readonly reason: string;
  readonly created: PrepareResult['created'];
  readonly failed: PrepareResult['failed'];
}

const partitionCount = (m: { errorCode: number; partitions: readonly unknown[] }): number | null => (m.errorCode === ErrorCode.NONE ? m.partitions.length : null);

export async function planPrepare(deps: PrepareDeps, wave: string): Promise<PreparePlan> {
  const topics = [...(await deps.waveTopics(wave))].sort();
  const { source, target } = deps.clusters;
  const metas = await Promise.all(topics.map(async (t) => {
    const [s, d] = await Promise.all([source.topic(t, { refresh: true }), target.topic(t, { refresh: true })]);
    return { topic: t, sourcePartitions: partitionCount(s), targetPartitions: partitionCount(d) };
  }));
  const onSource = metas.filter((m) => m.sourcePartitions !== null).map((m) => m.topic);
  const onBoth = metas.filter((m) => m.sourcePartitions !== null && m.targetPartitions !== null).map((m) => m.topic);
  const [sourceConfigs, targetConfigs] = await Promise.all([
    onSource.length > 0 ? source.topicConfigs(onSource, PREPARED_CONFIGS) : new Map<string, Map<string, string | null>>(),
    onBoth.length > 0 ? target.topicConfigs(onBoth, PREPARED_CONFIGS) : new Map<string, Map<string, string | null>>(),
  ]);
  const plans: TopicPlan[] = metas.map(({ topic, sourcePartitions, targetPartitions }) => {
    if (sourcePartitions === null) {
      return {
        topic, status: 'absent-on-source', sourcePartitions, targetPartitions, configDifferences: [], create: null,
        problems: targetPartitions === null ? [`${topic}: exists on neither cluster`] : [],
      };
    }
    const src = sourceConfigs.get(topic) ?? new Map<string, string | null>();
    if (targetPartitions === null) {
      const configs: Record<string, string> = {};
      for (const key of PREPARED_CONFIGS) {
        const v = src.get(key);
        if (v !== undefined && v !== null) configs[key] = v;
      }
      return {
        topic, status: 'missing', sourcePartitions, targetPartitions, configDifferences: [],
        create: { numPartitions: sourcePartitions, configs },
        problems: [`${topic}: missing on the target (source has ${sourcePartitions} partitions)`],
      };
    }
    const dst = targetConfigs.get(topic) ?? new Map<string, string | null>();
    const configDifferences = PREPARED_CONFIGS.filter((k) => (src.get(k) ?? null) !== (dst.get(k) ?? null))
      .map((key) => ({ key, source: src.get(key) ?? null, target: dst.get(key) ?? null }));
    const problems = sourcePartitions === targetPartitions ? [] : [`${topic}: ${sourcePartitions} partitions on the source, ${targetPartitions} on the target (prepare never changes an existing topic)`];
    return { topic, status: 'present', sourcePartitions, targetPartitions, configDifferences, create: null, problems };
  });
  const schemas = deps.schemas === undefined ? null : await deps.schemas(onSource);
  const ready = plans.every((p) => p.problems.length === 0) && (schemas === null || schemas.refusals.length === 0);
  return { wave, topics: plans, schemas, ready };
}

export interface ApplyOptions {
  readonly who: string;
  readonly reason?: string;
  /** Replicas per partition of the created topics; -1 (default) = the target broker's default. */
  readonly replicationFactor?: number;
}

/** Creates the topics the target lacks (never touches existing ones), records it, and returns the plan after. */
export async function applyPrepare(deps: PrepareDeps, wave: string, opts: ApplyOptions): Promise<PrepareResult> {
  const before = await planPrepare(deps, wave);
  const toCreate = before.topics.filter((t) => t.status === 'missing' && t.create !== null);
  const created: { topic: string; numPartitions: number; configs: Readonly<Record<string, string>> }[] = [];
  const failed: { topic: string; error: string }[] = [];
  if (toCreate.length > 0) {
    const replicationFactor = opts.replicationFactor ?? -1;
    const results = await deps.clusters.target.createTopics(toCreate.map((t) => ({
      name: t.topic, numPartitions: t.create!.numPartitions, replicationFactor, configs: t.create!.configs,
    })));
    const byName = new Map(results.map((r) => [r.name, r]));
    for (const t of toCreate) {
      const r = byName.get(t.topic);
      // 36 TOPIC_ALREADY_EXISTS: created meanwhile by someone else; the plan after apply shows how it looks.
      if (r === undefined) failed.push({ topic: t.topic, error: 'no answer for this topic' });
      else if (r.errorCode === ErrorCode.NONE) created.push({ topic: t.topic, numPartitions: t.create!.numPartitions, configs: t.create!.configs });
      else failed.push({ topic: t.topic, error: `error ${r.errorCode}${r.errorMessage ? `: ${r.errorMessage}` : ''}` });
    }
  }
  await deps.audit({ action: 'prepare', wave, who: opts.who, reason: opts.reason ?? '', created, failed });
  const after = created.length > 0 ? await planAfterCreate(deps, wave) : before;
  return { ...after, applied: true, created, failed };
}

/** Topic creation propagates to every broker's metadata within a moment; wait for it rather than report stale. */
async function planAfterCreate(deps: PrepareDeps, wave: string): Promise<PreparePlan> {
  let plan = await planPrepare(deps, wave);
  for (let i = 0; i < 20 && plan.topics.some((t) => t.status === 'missing'); i++) {
    await new Promise((r) => setTimeout(r, 250));
    plan = await planPrepare(deps, wave);
  }
  return plan;
}
