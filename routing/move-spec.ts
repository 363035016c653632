// What a cutover move is asked to do and what it reports: the control side of the barrier (cutover-barrier.ts).
// The data-path side is in barrier-contract.ts.

import type { Cluster } from './cluster.ts';
import type { PartitionErrorCount } from './move-errors.ts';
import type { WarmUpReport } from './warm-up.ts';

/** One partition's facts at the end of a drain. */
export interface PartitionReport {
  readonly topic: string;
  readonly partition: number;
  /** Highest offset the old cluster acknowledged to this proxy since the partition's last move; null if none. */
  readonly lastOffsetOnOld: bigint | null;
  /** Its held admissions are (or would be) rejected because a write failed on the old cluster. */
  readonly failedDrain: boolean;
  /** A write with an unknown outcome was seen (see inDoubt). */
  readonly inDoubt: boolean;
}

export interface CommitContext {
  readonly from: Cluster;
  readonly to: Cluster;
  /** Every topic the move held (listed, plus those matched by `matches`). */
  readonly topics: readonly string[];
  readonly partitions: readonly PartitionReport[];
  /** Time from the start of the hold until now (commit starts). */
  readonly holdMs: number;
  readonly drainMs: number;
  readonly heldRequests: number;
}

export interface FirstOffsetEvent {
  readonly topic: string;
  readonly partition: number;
  readonly generation: number;
  readonly cluster: Cluster;
  readonly offset: bigint;
}

export interface MoveSpec {
  /** Topics to move. */
  readonly topics: readonly string[];
  /**
   * Also hold every other topic this returns true for, including topics first seen during the move: prefix and
   * pattern rules name topics nobody has listed yet. Must be cheap and side-effect free.
   */
  readonly matches?: (topic: string) => boolean;
  /** Partitions to report per topic; 'unknown' reports the partitions this proxy has seen. */
  readonly partitionsOf: (topic: string) => readonly number[] | 'unknown';
  readonly from: Cluster;
  readonly to: Cluster;
  /** Bound of the drain. */
  readonly timeoutMs: number;
  /** Bound of the held admissions of this move; beyond it admit() rejects at once. */
  readonly maxHeldRequests: number;
  /** See point 7 of the header. Default 'abort'. */
  readonly inDoubt?: 'abort' | 'reject';
  /** Persist and install the new route (version + 1). If it throws, the move aborts and the error is rethrown. */
  /** Persists and installs the new route; may resolve with the committed table version (the moved topics' new generation). */
  readonly commit: (context: CommitContext) => Promise<void | number>;
  /** First acknowledged write on `to` per partition after the move. Called from complete(); must not throw. */
  readonly onFirstOffset?: (event: FirstOffsetEvent) => void;
  /**
   * Called once every admission that waited in the hold has been answered after the release (or abort): each
   * ticket it got was completed or abandoned, each rejection handed out. At once (from move()) when none waited;
   * otherwise from complete()/abandon(): must not throw. The move's error window closes after it (move-errors.ts).
   */
  readonly onReleaseSettled?: () => void;
  /** Cancels the move while it drains (like a timeout, cause 'cancelled'). */
  readonly signal?: AbortSignal;
  /** Names the move in conflict messages, e.g. `flip of batch "wave-1"`. */
  readonly label?: string;
}

export type AbortCause = 'timeout' | 'in-doubt' | 'cancelled';

export interface MoveTimings {
  /** Start of the hold until the release (or abort). */
  readonly holdMs: number;
  /** Start of the hold until the drain finished (or was abandoned). */
  readonly drainMs: number;
  readonly commitMs: number;
  readonly totalMs: number;
}

export interface MoveResult {
  readonly outcome: 'committed' | 'aborted';
  /** Why the move aborted (null when committed). The route did not change; held requests went to `from`. */
  readonly abort: { readonly cause: AbortCause; readonly message: string } | null;
  readonly from: Cluster;
  readonly to: Cluster;
  readonly topics: readonly string[];
  readonly partitions: readonly PartitionReport[];
  readonly timings: MoveTimings;
  /** Admissions that waited in the barrier. */
  readonly heldRequests: number;
  /** Admissions answered with a retriable error (bound reached, or failed drain on release). */
  readonly rejectedRequests: number;
  /**
   * Filled in by the participant (participant.ts), not the barrier: every partition error answered for the
   * move's topics from the start of its warm-up until the requests it held were answered (move-errors.ts).
   */
  readonly partitionErrors?: PartitionErrorCount;
  /** Filled in by the participant: what the warm-up before the hold made ready (null: no warm-up configured). */
  readonly warmUp?: WarmUpReport | null;
}

export interface ActiveMoveInfo {
  readonly label: string;
  readonly from: Cluster;
  readonly to: Cluster;
  readonly topics: readonly string[];
  readonly phase: 'draining' | 'committing';
  readonly heldNow: number;
  readonly inFlight: number;
}

export interface CutoverBarrierOptions {
  /** The cluster a topic is routed to now (the switch table's resolve). Called on every admission. */
  readonly routeOf: (topic: string) => Cluster;
  /** See point 6 of the header. Default 250 ms; 0 turns the quarantine off. */
  readonly quarantineMs?: number;
  /** How long a failure or unknown outcome before a hold still counts. Default 120 000 ms (Java's delivery.timeout.ms). */
  readonly unresolvedWindowMs?: number;
  /** Monotonic milliseconds. Default performance.now. */
  readonly now?: () => number;
  /** See AfterDrain. */
  readonly afterDrain?: AfterDrain;
  /**
   * Runs `callback` after `delayMs` (the drain's timeout) and returns the function that cancels it. Default
   * setTimeout/clearTimeout; the deterministic simulation (test/sim/) passes its simulated clock's timer.
   */
  readonly schedule?: (callback: () => void, delayMs: number) => () => void;
}

/**
 * A second drain step, run after every in-flight ticket completed and before the commit, while the topics are
 * still held: src/writeback uses it so that a rollback completes only once the copy of the target's writes back
 * to the source caught up. Resolves null to go on, or a message to abort the move (cause 'timeout'; the route
 * stays). `timeoutMs` is what is left of the move's bound. A throw aborts the same way.
 */
export type AfterDrain = (move: {
  readonly from: Cluster;
  readonly to: Cluster;
  readonly topics: readonly string[];
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}) => Promise<string | null>;
