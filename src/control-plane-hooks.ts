// The control plane's hooks (routing/operations.ts ControlPlaneHooks): what routing/ cannot know by itself because
// it never talks to a cluster. Each hook asks the part of src/ that owns the concept: pre-flight and the schema
// gate (src/preflight.ts, src/gates/), the promotion checks (write-back lag, consumer groups, the migration gates),
// transactions (src/transactions/: no split group, open transactions drained before a hold), the warm-up
// (src/proxy/warm-up.ts) and the clusters' topic lists for the ledger and for expanding prefix/pattern batches.
import type { Cluster } from '../routing/cluster.ts';
import type { ControlPlaneHooks, PreflightResult } from '../routing/operations.ts';
import type { WarmUp } from '../routing/warm-up.ts';
import { ErrorCode } from '../protocol/kafka-errors.ts';
import type { ClusterClient } from './upstream/cluster-client.ts';
import type { Gates } from './gates/setup.ts';
import type { MigrationGates } from './gates/migration-gates.ts';
import type { Consumers } from './consumers/setup.ts';
import type { WriteBack } from './writeback/write-back.ts';
import type { TransactionSupport } from './transactions/setup.ts';
import { createPreflight } from './preflight.ts';
import { answerWithin, preflightWithDeadline } from './hook-deadlines.ts';

export interface ControlPlaneHookParts {
  readonly clusters: Record<Cluster, ClusterClient>;
  readonly gates: Gates;
  readonly migration: MigrationGates;
  readonly consumers: Consumers;
  readonly writeBack: Pick<WriteBack, 'promoteRefusals' | 'lagNote'>;
  /**
   * Late-bound: transaction support and the warm-up need the producer-id map, which is built after the control
   * plane (it reads the ledger). Until they exist, a move has no transaction checks and nothing to warm.
   */
  readonly transactions: () => TransactionSupport | null;
  readonly warmUp: () => WarmUp | null;
  /** Bound of the pre-flight (flip.timeoutMs): a hung cluster refuses the move instead of stalling it. */
  readonly preflightTimeoutMs?: number;
}

const NOTHING_TO_SAY: PreflightResult = { refusals: [], warnings: [] };

export function createControlPlaneHooks(parts: ControlPlaneHookParts): ControlPlaneHooks {
  const { clusters, gates, migration, consumers, writeBack } = parts;
  // A hung cluster (a paused broker answers nothing until the request timeout) must not stall a move's lookups:
  // past this, it contributes nothing, as a cluster that does not answer already does.
  // Half the move's budget: a slow but healthy cluster still answers a metadata request well within it.
  const lookupMs = Math.min(5_000, Math.max(250, (parts.preflightTimeoutMs ?? 10_000) / 2));
  return {
    // Promote waits for the write-back to catch up and for the wave's consumer groups to leave the source.
    // One promotion gate: the migration gates' named checks (bypass, open transactions) for a batch, the write-back's
    // lag for the topics, and the wave's consumer groups; every refusal counts.
    promoteCheck: async (topics, batch) => {
      const gates = batch === null ? NOTHING_TO_SAY : await migration.promotePreflight(batch);
      const groups = batch === null ? NOTHING_TO_SAY : await consumers.promotionGate(batch);
      return {
        refusals: [...gates.refusals, ...(await writeBack.promoteRefusals(topics)), ...groups.refusals],
        warnings: [...gates.warnings, ...groups.warnings],
      };
    },
    preflight: gates.preflight(
      parts.preflightTimeoutMs === undefined
        ? createPreflight(clusters)
        : preflightWithDeadline(createPreflight(clusters), parts.preflightTimeoutMs, (topics, to) => (to === 'source' ? writeBack.lagNote(topics) : null)),
    ),
    movePreflight: async (topics, from, to) => parts.transactions()?.guard.preflight(topics, from, to) ?? { refusals: [], warnings: [] },
    beforeHold: async (move) => {
      const transactions = parts.transactions();
      return transactions === null ? null : await transactions.guard.beforeHold(move);
    },
    partitionsOf: (topic) => partitionsOf(clusters, topic, lookupMs),
    // A move that reaches this instance while it is still starting fails its warm-up: nothing is held.
    warmUp: async (request) => {
      const warmUp = parts.warmUp();
      if (warmUp === null) throw new Error('this instance is still starting: its producer-id map is not built yet');
      // A rollback that cannot warm the source (down, hung) names the copy it leaves behind (nothing is lost).
      if (request.to === 'source') request.explain?.(() => writeBack.lagNote(request.topics.map((t) => t.topic)));
      return warmUp(request);
    },
    knownTopics: () => knownTopics(clusters, lookupMs),
  };
}

/** The topic's partitions as the first cluster that knows it reports them; 'unknown' when neither does. */
async function partitionsOf(clusters: Record<Cluster, ClusterClient>, topic: string, lookupMs: number): Promise<readonly number[] | 'unknown'> {
  for (const c of ['source', 'target'] as const) {
    const meta = await answerWithin(clusters[c].topic(topic), lookupMs, null);
    if (meta && meta.errorCode === ErrorCode.NONE) return meta.partitions.map((p) => p.partition);
  }
  return 'unknown';
}

/** Every non-internal topic on either cluster (a cluster that does not answer contributes none). */
async function knownTopics(clusters: Record<Cluster, ClusterClient>, lookupMs: number): Promise<string[]> {
  const names = new Set<string>();
  const lists = await Promise.all((['source', 'target'] as const).map((c) => answerWithin(clusters[c].allTopics(), lookupMs, [])));
  for (const list of lists) for (const t of list) if (!t.isInternal) names.add(t.name);
  return [...names];
}
