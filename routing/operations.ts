// What the admin API can ask of the control plane: the operations (flip, rollback, promote of a batch or a topic,
// rollback of everything), their options and results, and how each one is planned and scoped.

import type { Cluster, RouteStateName } from './cluster.ts';
import { NotFoundError, ValidationError } from './errors.ts';
import type { ActiveMoveInfo, MoveTimings } from './move-spec.ts';
import { planBatch, planRollbackAll, planTopic, type OperationScope, type RoutePlan } from './route-plan.ts';
import type { AuditAction, AuditTarget, LedgerEntry, RouteChange } from './route-state.ts';
import { isValidTopicName, type CompiledRules } from './rules.ts';
import type { RoutingSnapshot } from './switch-table.ts';
import type { PartitionErrorCount } from './move-errors.ts';
import type { WarmUp, WarmUpReport } from './warm-up.ts';
import type { BeforeHoldHook } from './move-hooks.ts';

export interface PreflightResult {
  /** Reasons to refuse (e.g. "orders: 6 partitions on source, 3 on target"). Refused unless forced. */
  readonly refusals: readonly string[];
  /** Worth knowing, never blocking. */
  readonly warnings: readonly string[];
}

/** Supplied by src/ (they need the clusters); all optional so the control plane works on its own in tests. */
export interface ControlPlaneHooks {
  /** Checks before a move to the target: partition counts, topic existence, … May throw (503). */
  readonly preflight?: (topics: readonly string[], to: Cluster) => Promise<PreflightResult>;
  /**
   * Checks before a promote (src/writeback: write-back lag > 0; consumer groups still reading the source): its
   * refusals block the promote unless forced (recorded in the audit), like pre-flight refusals of a flip.
   */
  /**
   * The promotion gate: checks before a promote, given the topics it promotes and, for a batch, its name (bypass
   * writes, open transactions on the old cluster, write-back lag, consumer groups still on the source). Refusals
   * block the promote unless forced, exactly like a flip's pre-flight. May throw (503).
   */
  readonly promoteCheck?: (topics: readonly string[], batch: string | null) => Promise<PreflightResult>;
  /** Partition numbers of a topic, for the ledger; 'unknown' falls back to the partitions the proxy has seen. */
  readonly partitionsOf?: (topic: string) => readonly number[] | 'unknown' | Promise<readonly number[] | 'unknown'>;
  /**
   * Topics that exist (on either cluster), so prefix and pattern batches can be expanded for pre-flight and
   * the ledger. Topics the proxy has already seen are added automatically.
   */
  readonly knownTopics?: () => readonly string[] | Promise<readonly string[]>;
  /** Makes the new side ready before a move holds anything (warm-up.ts); a failure fails the move (503). */
  readonly warmUp?: WarmUp;
  /** Checks before every move, either direction (transactions: no split group, no consume-transform-produce). */
  readonly movePreflight?: (topics: readonly string[], from: Cluster, to: Cluster) => Promise<PreflightResult>;
  /** Run by this instance's participant before its barrier holds (move-hooks.ts). */
  readonly beforeHold?: BeforeHoldHook;
}

export interface WriteOptions {
  /** The admin token's name, recorded in the audit. */
  readonly who: string;
  readonly reason?: string;
  /** Plan and pre-flight only: nothing changes and nothing is recorded. */
  readonly dryRun?: boolean;
  /** Override pre-flight refusals; allow rolling back promoted routes (reconciliation). Recorded in the audit. */
  readonly force?: boolean;
  /** Overrides flipTimeoutMs for this operation. */
  readonly timeoutMs?: number;
  /** Cancels the move while it drains. */
  readonly signal?: AbortSignal;
}

export interface OperationResult {
  readonly dryRun: boolean;
  readonly action: AuditAction;
  readonly target: AuditTarget;
  /** 'planned' for a dry run; 'forced' when force overrode a refusal or allowed a promoted rollback. */
  readonly outcome: 'planned' | 'ok' | 'forced';
  /** The table version after the operation (the current one for a dry run). */
  readonly version: number;
  readonly previousVersion: number;
  readonly changes: readonly RouteChange[];
  /** The traffic move: topics held (dry run: topics known to move). Null for promote. */
  readonly move: { readonly from: Cluster; readonly to: Cluster; readonly topics: readonly string[] } | null;
  readonly preflight: PreflightResult | null;
  /** What force overrode (refusals, promoted rollbacks); empty when nothing needed forcing. */
  readonly forced: readonly string[];
  /** Would be refused without force (dry run) — same list as preflight refusals plus transition refusals. */
  readonly refusals: readonly string[];
  readonly timings: MoveTimings | null;
  /** A committed move: each member's part (fleet: one entry per live member when the move started). */
  readonly members?: readonly {
    readonly member: string;
    readonly status: 'released' | 'gone' | 'silent';
    readonly holdMs: number | null;
    readonly drainMs: number | null;
    readonly heldRequests: number | null;
  }[];
  /** Ledger entries written by this operation (firstOffsetOnNew fills in later; see ledger()). */
  readonly ledger: readonly LedgerEntry[];
  readonly heldRequests: number;
  readonly rejectedRequests: number;
  /**
   * Every partition error kmp answered for the moved topics from the warm-up until the held requests were
   * answered, by error and reason (move-errors.ts). 0 in the healthy case; null when no traffic moved.
   */
  readonly partitionErrors: PartitionErrorCount | null;
  /** What the warm-up before the hold made ready (the slowest member's); null without a warm-up or a move. */
  readonly warmUp: WarmUpReport | null;
  readonly reconciliation: boolean;
}

export interface RoutesView {
  readonly version: number;
  readonly default: Cluster;
  readonly batches: readonly {
    readonly name: string;
    readonly state: RouteStateName;
    readonly cluster: Cluster;
    readonly topics: readonly string[];
    readonly prefixes: readonly string[];
    readonly patterns: readonly string[];
  }[];
  readonly topics: readonly { readonly topic: string; readonly state: RouteStateName; readonly cluster: Cluster; readonly batch: string | null }[];
  /** Batches in the state store that the config no longer declares (they route nothing). */
  readonly orphanedBatches: readonly { readonly name: string; readonly state: RouteStateName }[];
  readonly moves: readonly ActiveMoveInfo[];
}

export interface Operation {
  readonly action: AuditAction;
  readonly target: AuditTarget;
  readonly scope: OperationScope;
  readonly label: string;
  readonly plan: (snapshot: RoutingSnapshot, force: boolean) => RoutePlan;
  /** Topics to list explicitly (plus known topics matching the change). */
  readonly seedTopics: (snapshot: RoutingSnapshot) => readonly string[];
  /** A single-topic operation holds exactly that topic, no pattern matching. */
  readonly exactTopic: string | null;
}

export function checkTopicName(topic: string): void {
  if (typeof topic !== 'string' || !isValidTopicName(topic)) {
    throw new ValidationError(`topic: "${String(topic)}" is not a valid Kafka topic name (1-249 characters of letters, digits, ".", "_" and "-")`);
  }
}

export function batchOperation(rules: CompiledRules, action: 'flip' | 'rollback' | 'promote', name: string, to: RouteStateName): Operation {
  if (typeof name !== 'string' || !rules.hasBatch(name)) {
    const known = rules.batches.map((b) => b.name);
    throw new NotFoundError(`unknown batch "${String(name)}"; the config declares ${known.length > 0 ? known.join(', ') : 'no batches'}`);
  }
  return {
    action,
    target: { kind: 'batch', name },
    scope: { kind: 'batch', name },
    label: `${action} of batch "${name}"`,
    exactTopic: null,
    seedTopics: () => rules.batch(name)?.topics ?? [],
    plan: (snapshot, force) => planBatch(snapshot, name, to, force),
  };
}

export function topicOperation(rules: CompiledRules, action: 'flip' | 'rollback', topic: string, to: 'source' | 'target'): Operation {
  checkTopicName(topic);
  return {
    action,
    target: { kind: 'topic', name: topic },
    scope: { kind: 'topic', name: topic, batch: rules.match(topic).batch },
    label: `${action} of topic "${topic}"`,
    exactTopic: topic,
    seedTopics: () => [topic],
    plan: (snapshot, force) => planTopic(snapshot, topic, to, force),
  };
}

export function allOperation(rules: CompiledRules): Operation {
  return {
    action: 'rollback-all',
    target: { kind: 'all', name: null },
    scope: { kind: 'all' },
    label: 'rollback of everything',
    exactTopic: null,
    seedTopics: (snapshot) => [...rules.batches.flatMap((b) => b.topics), ...snapshot.topicOverrides.keys()],
    plan: (snapshot, force) => planRollbackAll(snapshot, force),
  };
}
