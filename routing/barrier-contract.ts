// The contract between the Produce data path and the cutover barrier: the types a handler sees per (topic,
// partition) and the three calls it makes. Kept apart from the barrier's implementation (cutover-barrier.ts) so
// the data path depends on this small surface only, and a test double or another router can implement it.
//
// ── How the data path uses it, per (topic, partition) of each Produce request ──────────────────────────────────
//
//   let admission = barrier.admit(topic, partition);        // Ticket | Rejection | Promise<Ticket | Rejection>
//   if (admission instanceof Promise) admission = await admission;   // only while the topic is held by a move
//   if (isRejection(admission)) → answer this partition with admission.errorCode (6, NOT_LEADER_OR_FOLLOWER),
//                                 do not forward it; the client retries.
//   else → forward it to admission.cluster, using the upstream producer id of (client pid, admission.cluster,
//          admission.generation): a new generation means a fresh upstream pid (docs/protocol-notes.md §c point 2);
//          when the upstream answers for this partition:
//            barrier.complete(admission, { ok: true, baseOffset, lastOffset? })     // error_code 0
//            barrier.complete(admission, { ok: false, retriable, errorCode, written }) // any error
//          `written` is 'no' when the broker certainly did not append (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,
//          UNKNOWN_TOPIC_OR_PARTITION, OUT_OF_ORDER_SEQUENCE_NUMBER, …) and 'unknown' when it may have
//          (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND, the upstream connection broke after sending).
//          If the request was never sent upstream (client gone, proxy-side error): barrier.abandon(admission).
//          acks=0: complete with { ok: true, baseOffset: -1n } once the request is written to the upstream socket.
//   Exactly one of complete/abandon per ticket; a second call throws InvalidTicketError.
//
// The common path (topic not held) allocates one small ticket object and no promise; the lookup is two Map gets
// plus the switch table's cached resolve.

import type { ErrorCode } from '../protocol/kafka-errors.ts';
import type { Cluster } from './cluster.ts';

/** What the upstream said about one partition of one forwarded Produce. */
export type CompletionOutcome =
  | { readonly ok: true; readonly baseOffset: bigint; readonly lastOffset?: bigint }
  | { readonly ok: false; readonly retriable: boolean; readonly errorCode: number; readonly written: 'no' | 'unknown' };

/** Permission to forward one partition's data to `cluster`. Hand it back to complete() or abandon(). */
export interface Ticket {
  readonly topic: string;
  readonly partition: number;
  readonly cluster: Cluster;
  /** Per-partition move counter: changes on every move of the partition; pick upstream pids per (cluster, generation). */
  readonly generation: number;
}

export type RejectionReason =
  /** The move's bound of held requests was reached. */
  | 'held-limit'
  /** A write for this partition failed on the old cluster; the client must resend in order. */
  | 'failed-drain'
  /** Shortly after such a move, see quarantineMs. */
  | 'quarantine'
  /** Tickets are in flight on the other cluster (a route changed without a move). */
  | 'route-mismatch';

/** Answer this partition with `errorCode` and do not forward it. */
export interface Rejection {
  readonly reject: 'NOT_LEADER_OR_FOLLOWER';
  readonly errorCode: typeof ErrorCode.NOT_LEADER_OR_FOLLOWER;
  readonly reason: RejectionReason;
}

export type Admission = Ticket | Rejection;

export function isRejection(admission: Admission): admission is Rejection {
  return 'reject' in admission;
}

/**
 * What the data path calls, per (topic, partition) of each Produce. CutoverBarrier implements it.
 * - admit: a Ticket (forward) or a Rejection (answer with a retriable error) at once when the topic is not held;
 *   a Promise of either while a move holds the topic. Call in request order; held admissions resolve in arrival order.
 * - complete: the upstream answered for the ticket's partition.
 * - abandon: the ticket's request was never sent upstream.
 * Exactly one complete/abandon per ticket; a second call throws InvalidTicketError.
 */
export interface PartitionRouter {
  admit(topic: string, partition: number): Admission | Promise<Admission>;
  complete(ticket: Ticket, outcome: CompletionOutcome): void;
  abandon(ticket: Ticket): void;
}
