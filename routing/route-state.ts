// Route state: which side each batch and each overridden topic is on, the table version, the audit trail and
// the cutover ledger. This is what the state store persists and what a restart restores. The rules (config)
// say which topics a batch holds; this says where the batch is.
//
// Transitions (docs/design.md §3):
//   source ──flip──► target ──promote──► promoted
//   source ◄─rollback── target
//   source ◄─rollback (force only; recorded as a reconciliation event)── promoted
// Everything else is a RouteConflictError (409) whose message tells the operator what to do instead.
//
// Audit and ledger are history: they only grow. The store appends what each operation adds (never rewrites
// them), and the control plane keeps them in memory with indexes for O(page) reads (audit-log.ts, ledger.ts).

import type { Cluster, RouteStateName } from './cluster.ts';
import { RouteConflictError } from './errors.ts';
import type { PartitionErrorCount } from './move-errors.ts';

/** The part of the state that decides routing: what a switch-table snapshot is built from. */
export interface RouteAssignment {
  /** Table version, monotonic: +1 for every change of a route. */
  readonly version: number;
  /** Batch name → state. A batch missing here is on `source`. */
  readonly batches: ReadonlyMap<string, RouteStateName>;
  /** Topic name → override state. A topic missing here follows its batch (or the default). */
  readonly topics: ReadonlyMap<string, RouteStateName>;
}

/** 'consumer-move': a consumer group's offsets were moved to the other cluster (src/consumers/); 'note': a fact recorded
 * by a gate (bypass writes seen, …). Neither changes a route. */
export type AuditAction = 'flip' | 'rollback' | 'promote' | 'rollback-all' | 'consumer-move' | 'note';
export type AuditOutcome = 'ok' | 'aborted' | 'refused' | 'forced';

export interface AuditTarget {
  readonly kind: 'batch' | 'topic' | 'all' | 'group';
  /** The batch, topic or consumer group name; null for `all`. */
  readonly name: string | null;
}

/** One route that an operation changes. For a topic, null means "no override: follows its batch/default". */
export interface RouteChange {
  readonly kind: 'batch' | 'topic';
  readonly name: string;
  readonly before: RouteStateName | null;
  readonly after: RouteStateName | null;
}

/** Free-form facts about an operation, typed so the store can validate them. */
export interface AuditDetails {
  /** Pre-flight refusals; when `forced`, these were overridden. */
  readonly refusals?: readonly string[];
  readonly warnings?: readonly string[];
  /** Why an operation was refused or aborted. */
  readonly error?: string;
  /** The move was a rollback of promoted routes: the ledger entries of this version are reconciliation events. */
  readonly reconciliation?: boolean;
  readonly topics?: readonly string[];
  readonly partitions?: number;
  readonly holdMs?: number;
  readonly drainMs?: number;
  readonly heldRequests?: number;
  readonly rejectedRequests?: number;
  /** Consumer moves: the wave, the direction and each partition's committed offset before → after. */
  readonly wave?: string;
  readonly direction?: 'to-target' | 'to-source';
  readonly offsets?: readonly { readonly topic: string; readonly partition: number; readonly from: string; readonly to: string }[];
  /**
   * Partition errors answered for the moved topics during the move (move-errors.ts). In the commit's entry: up to
   * the commit (warm-up and drain); an entry with no changes follows when more were answered after the switch.
   */
  readonly partitionErrors?: PartitionErrorCount;
  /** How long the warm-up before the hold took. */
  readonly warmUpMs?: number;
}

export interface AuditEntry {
  /** 1, 2, 3, … in order of recording. */
  readonly seq: number;
  /** The admin token's name. */
  readonly who: string;
  /** ISO 8601 time of recording. */
  readonly when: string;
  readonly action: AuditAction;
  readonly target: AuditTarget;
  readonly reason: string;
  /** before → after of every route the operation changed (or would have changed, when refused/aborted). */
  readonly changes: readonly RouteChange[];
  readonly outcome: AuditOutcome;
  /** The table version after the operation (unchanged when refused or aborted). */
  readonly version: number;
  readonly details: AuditDetails;
}

/**
 * One partition moved from one cluster to the other in one table version. `firstOffsetOnNew` is filled when the
 * new cluster acknowledges its first write after the move, so it is mutable; every other field is fixed.
 */
export interface LedgerEntry {
  readonly topic: string;
  readonly partition: number;
  readonly from: Cluster;
  readonly to: Cluster;
  readonly version: number;
  /** Last offset written to `from` as seen by this proxy (drained and earlier responses); null if none seen. */
  readonly lastOffsetOnOld: bigint | null;
  /** First offset written to `to` after the move; null until the first acknowledged write. */
  firstOffsetOnNew: bigint | null;
  /** How long new writes to this partition waited in the barrier. */
  readonly holdMs: number;
  /** ISO 8601 time of the switch. */
  readonly at: string;
  /** A rollback of a promoted route: the target has writes the source lacks; they must be reconciled. */
  readonly reconciliation: boolean;
  /**
   * For a reconciliation: the first offset written to the target when this partition last moved there, so the
   * range to reconcile is [reconcileFromOffset, lastOffsetOnOld]. Null when unknown or not a reconciliation.
   */
  readonly reconcileFromOffset: bigint | null;
  /** A drained write for this partition failed, so its held writes were answered with a retriable error. */
  readonly failedDrain: boolean;
}

export interface RouteState extends RouteAssignment {
  readonly audit: readonly AuditEntry[];
  readonly ledger: readonly LedgerEntry[];
}

export function emptyRouteState(): RouteState {
  return { version: 0, batches: new Map(), topics: new Map(), audit: [], ledger: [] };
}

export interface TransitionSubject {
  readonly kind: 'batch' | 'topic';
  readonly name: string;
}

export interface TransitionVerdict {
  /** Only allowed because `force` was given (rollback of a promoted route). */
  readonly forced: boolean;
  /** The transition needs a reconciliation record (promoted → source). */
  readonly reconciliation: boolean;
}

const ALLOWED: Readonly<Record<RouteStateName, Partial<Record<RouteStateName, 'yes' | 'force'>>>> = {
  source: { target: 'yes' },
  target: { source: 'yes', promoted: 'yes' },
  promoted: { source: 'force' },
};

/**
 * Checks one route transition. Returns how it is allowed, or throws a RouteConflictError with a message that
 * says what to do instead.
 */
export function checkTransition(
  subject: TransitionSubject,
  from: RouteStateName,
  to: RouteStateName,
  force: boolean,
): TransitionVerdict {
  const label = `${subject.kind} "${subject.name}"`;
  const allowed = ALLOWED[from][to];
  if (allowed === 'yes') return { forced: false, reconciliation: false };
  if (allowed === 'force') {
    if (!force) {
      throw new RouteConflictError(
        `${label} is promoted: the target is authoritative and has writes the source lacks. ` +
          'Rolling back requires force=true; the rollback is then recorded as a reconciliation event with the ledger offsets.',
      );
    }
    return { forced: true, reconciliation: true };
  }
  if (from === to) {
    throw new RouteConflictError(`${label} is already ${to === 'source' ? 'on source' : to === 'target' ? 'on target' : 'promoted'}; nothing to do`);
  }
  if (from === 'source' && to === 'promoted') {
    throw new RouteConflictError(`${label} is on source: flip it to target before promoting it`);
  }
  if (from === 'promoted' && to === 'target') {
    throw new RouteConflictError(`${label} is promoted and already on target; to go back to source, roll it back with force=true`);
  }
  throw new RouteConflictError(`${label} cannot go from ${from} to ${to}`);
}

/** The assignment after applying changes (copies; the input is not modified), at the given version. */
export function applyChanges(assignment: RouteAssignment, changes: readonly RouteChange[], version: number): RouteAssignment {
  const batches = new Map(assignment.batches);
  const topics = new Map(assignment.topics);
  for (const change of changes) {
    if (change.kind === 'batch') {
      // A batch on source is stored explicitly too: the audit and `routes()` then show every touched batch.
      batches.set(change.name, change.after ?? 'source');
    } else if (change.after === null) {
      topics.delete(change.name);
    } else {
      topics.set(change.name, change.after);
    }
  }
  return { version, batches, topics };
}

/** The `before` of a change as currently stored, to re-check a plan when it commits. */
export function currentOf(assignment: RouteAssignment, change: RouteChange): RouteStateName | null {
  if (change.kind === 'batch') return assignment.batches.get(change.name) ?? 'source';
  return assignment.topics.get(change.name) ?? null;
}
