// The messages between the coordinator of a move (decides and commits, coordinator.ts) and its participants (each
// proxy instance: holds, drains, reports, switches, releases; participant.ts). Plain data only — no functions, no
// class instances — so the same exchange can cross a network later; the in-process transport even clones every
// message to keep that honest. Bigint offsets stay bigints here; a network codec writes them as decimal strings.
//
//   coordinator                                   participant (every member)
//   prepare(move) ───────────────────────────────► hold the topics, drain what was in flight
//                 ◄─────────────────────────────── prepared(partition reports) | prepare-failed(why)
//   all prepared: commit the version to the store (compare-and-set)
//   commit(version, changes) ────────────────────► install the new routes, release the held requests
//                 ◄─────────────────────────────── released(result)
//   anything else: abort(reason) ────────────────► release the held requests to the old cluster
//                 ◄─────────────────────────────── aborted
//
// A change with no traffic (promote) and a change committed elsewhere skip prepare: commit alone installs it.
// First offsets on the new cluster are not part of the exchange: each member records those it sees in the store
// itself (StateStore.recordFirstOffsets, lowest wins), so no member waits for another to fill the ledger.
// The next step (several instances) keeps this exchange: one coordinator per move, unanimous prepared or abort,
// and a member counted gone only after its lease expires (until then a move waits for it, bounded by timeoutMs).

import type { Cluster } from './cluster.ts';
import type { PartitionErrorCount } from './move-errors.ts';
import type { MoveResult, PartitionReport } from './move-spec.ts';
import type { RouteChange } from './route-state.ts';

export interface PrepareMessage {
  readonly type: 'prepare';
  readonly moveId: string;
  /** Names the move in messages, e.g. `flip of batch "wave-1"`. */
  readonly label: string;
  /** What the version changes; each participant derives from it (and the shared rules) which topics move. */
  readonly changes: readonly RouteChange[];
  readonly from: Cluster;
  readonly to: Cluster;
  /** Topics to hold explicitly. */
  readonly topics: readonly string[];
  /** Also hold every other topic whose cluster the changes move (prefix and pattern batches). */
  readonly holdMatching: boolean;
  /** Partitions per listed topic for the ledger; 'unknown' (or absent) reports the partitions the member saw. */
  readonly partitions: readonly { readonly topic: string; readonly partitions: readonly number[] | 'unknown' }[];
  readonly timeoutMs: number;
  readonly maxHeldRequests: number;
  readonly inDoubt: 'abort' | 'reject';
  /**
   * The members whose answer the coordinator waits for (absent from older coordinators: treated as not asked).
   * An asked member's writes may flow until its hold starts — the move cannot commit without its prepared —
   * which lets open transactions finish and keeps the warm-up invisible; one not asked must refuse them.
   */
  readonly asked?: readonly string[];
}

export interface CommitMessage {
  readonly type: 'commit';
  /** The move this commits, or null for a change without traffic (promote, a change made elsewhere). */
  readonly moveId: string | null;
  readonly version: number;
  readonly changes: readonly RouteChange[];
}

export interface AbortMessage {
  readonly type: 'abort';
  readonly moveId: string;
  readonly reason: string;
}

export type CoordinatorMessage = PrepareMessage | CommitMessage | AbortMessage;

/** The facts of one member's drain: what the ledger and the audit record. */
export interface PreparedMessage {
  readonly type: 'prepared';
  readonly moveId: string;
  readonly member: string;
  /** Every topic the member held (listed, plus those matched). */
  readonly topics: readonly string[];
  readonly partitions: readonly PartitionReport[];
  readonly holdMs: number;
  readonly drainMs: number;
  readonly heldRequests: number;
  /** Partition errors answered for the move's topics so far (warm-up and drain): the audit entry records them. */
  readonly partitionErrors: PartitionErrorCount;
}

/** An error as data: enough to rebuild a RoutingError of the same status on the coordinator's side. */
export interface WireError {
  readonly name: string;
  readonly status: number | null;
  readonly code: string | null;
  readonly message: string;
  readonly details: readonly string[];
}

export interface PrepareFailedMessage {
  readonly type: 'prepare-failed';
  readonly moveId: string;
  readonly member: string;
  /** The barrier aborted the drain (timeout, in-doubt write, cancelled): its report. */
  readonly aborted: MoveResult | null;
  /** The move could not start (a conflicting move on this member, bad input). */
  readonly error: WireError | null;
}

export interface ReleasedMessage {
  readonly type: 'released';
  readonly moveId: string | null;
  readonly member: string;
  readonly version: number;
  /** The barrier's report; null for a commit without a move. */
  readonly result: MoveResult | null;
}

export interface AbortedMessage {
  readonly type: 'aborted';
  readonly moveId: string;
  readonly member: string;
}

export type ParticipantMessage = PreparedMessage | PrepareFailedMessage | ReleasedMessage | AbortedMessage;

/** How messages travel. Today in-process (in-process-transport.ts); later a network or a Kafka topic. */
export interface MoveTransport {
  /** Members that must take part in every move (today: this process). */
  members(): readonly string[];
  /** Delivers to every member (`to` null) or to one. Asynchronous: never calls a handler before returning. */
  toParticipants(message: CoordinatorMessage, to?: string | null): void;
  /** Registers the coordinator's handler for what participants send. */
  onParticipantMessage(handler: (message: ParticipantMessage) => void): void;
  /**
   * Fleet transports: whether a member counts as gone (its lease expired plus the skew margin, or it left). The
   * coordinator stops waiting for a gone member and decides without it; a member that is merely slow is waited
   * for, up to the move's timeoutMs, and then the move aborts. Absent: members never go (one process).
   */
  isGone?(member: string): boolean;
  /**
   * Fleet transports: whether this instance itself is fenced (its lease lapsed): the others may count it gone, so
   * a move it coordinates must not commit. Absent: never.
   */
  isFenced?(): boolean;
}
