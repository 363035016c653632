// The barrier's bookkeeping per topic, per partition, per ticket and per running move. Internal to
// cutover-barrier.ts (not part of its contract): exported only so that file can stay about behaviour.

import { ErrorCode } from '../protocol/kafka-errors.ts';
import type { Cluster } from './cluster.ts';
import type { Admission, Ticket } from './barrier-contract.ts';
import type { AbortCause, FirstOffsetEvent, MoveSpec } from './move-spec.ts';

export const NO_TIME = Number.NEGATIVE_INFINITY;

/**
 * Finds the first offset written to the new cluster after a move. The first *answer* is not enough: writes that
 * were in flight at the same time on other upstream connections may have been appended before it. So once the
 * first successful answer of the generation arrives, the watch waits for every ticket admitted before that moment
 * (serial < horizon) and takes the lowest base offset among them; tickets admitted later were sent after that
 * answer arrived, so they were appended after it.
 */
export interface FirstOffsetWatch {
  readonly generation: number;
  readonly notify: (event: FirstOffsetEvent) => void;
  min: bigint | null;
  horizon: number | null;
  pending: number;
  cluster: Cluster | null;
}

export class PartitionState {
  readonly partition: number;
  inFlight = 0;
  /** The cluster of the tickets in flight (meaningful while inFlight > 0). */
  inFlightCluster: Cluster | null = null;
  /** Highest acknowledged offset in the current generation. */
  lastOffset: bigint | null = null;
  lastOkAt = NO_TIME;
  lastFailedAt = NO_TIME;
  lastUnknownAt = NO_TIME;
  lastUnknownCode: number = ErrorCode.NONE;
  /** Per move: a write failed / had an unknown outcome / an admission was rejected over the bound. */
  failedInMove = false;
  inDoubtInMove = false;
  overflowed = false;
  /** Admissions for this partition are rejected until this time (0: none). */
  quarantineUntil = 0;
  /** Serial number of the next ticket for this partition (see FirstOffsetWatch). */
  admitted = 0;
  firstOffsetWatch: FirstOffsetWatch | null = null;

  constructor(partition: number) {
    this.partition = partition;
  }
}

export class TopicState {
  readonly name: string;
  /** Shared by all partitions of the topic: a topic always moves as a whole. */
  generation = 0;
  inFlight = 0;
  hold: ActiveMove | null = null;
  routeAtHold: Cluster | null = null;
  readonly partitions = new Map<number, PartitionState>();

  constructor(name: string) {
    this.name = name;
  }
}

export class CutoverTicket implements Ticket {
  readonly topic: string;
  readonly partition: number;
  readonly cluster: Cluster;
  readonly generation: number;
  readonly topicState: TopicState;
  readonly partitionState: PartitionState;
  /** Order of admission within the partition. */
  readonly serial: number;
  settled = false;
  /** The move whose hold this admission waited in (set when the move let it through); see MoveSpec.onReleaseSettled. */
  releasedBy: ActiveMove | null = null;

  constructor(ts: TopicState, ps: PartitionState, cluster: Cluster) {
    this.serial = ps.admitted++;
    this.topic = ts.name;
    this.partition = ps.partition;
    this.cluster = cluster;
    this.generation = ts.generation;
    this.topicState = ts;
    this.partitionState = ps;
  }
}

export interface HeldAdmission {
  readonly ts: TopicState;
  readonly ps: PartitionState;
  readonly resolve: (admission: Admission) => void;
}

export type DrainEnd = 'drained' | AbortCause;

export class ActiveMove {
  readonly spec: MoveSpec;
  readonly label: string;
  readonly explicit: ReadonlySet<string>;
  readonly claimed = new Set<TopicState>();
  readonly held: HeldAdmission[] = [];
  readonly inDoubtPolicy: 'abort' | 'reject';
  phase: 'draining' | 'committing' = 'draining';
  /** Tickets admitted before the hold that have not completed yet. */
  pending = 0;
  heldTotal = 0;
  rejected = 0;
  /** Admissions let through by this move's release (or abort) that have not completed yet. */
  releasedOpen = 0;
  inDoubtMessage: string | null = null;
  finishDrain: (end: DrainEnd) => void = () => undefined;

  constructor(spec: MoveSpec, explicit: ReadonlySet<string>) {
    this.spec = spec;
    this.explicit = explicit;
    this.label = spec.label ?? `move of ${[...explicit].slice(0, 3).join(', ')}${explicit.size > 3 ? ', …' : ''}`;
    this.inDoubtPolicy = spec.inDoubt ?? 'abort';
  }

  wants(topic: string): boolean {
    return this.explicit.has(topic) || (this.spec.matches?.(topic) ?? false);
  }
}

// Operator-facing messages of an aborted move (they name the partitions and say what to do).

export function inDoubtMessage(move: ActiveMove, ts: TopicState, ps: PartitionState, errorCode: number): string {
  return (
    `a write to ${ts.name}[${ps.partition}] on ${move.spec.from} has an unknown outcome (error code ${errorCode}): ` +
    `it must be retried on ${move.spec.from}, where the broker can deduplicate it; moving now could write it to both clusters`
  );
}

export function abortMessage(move: ActiveMove, cause: AbortCause): string {
  const { from, to } = move.spec;
  const tail = `the route stays on ${from} and held requests went to ${from}`;
  if (cause === 'in-doubt') {
    return `${move.label} aborted: ${move.inDoubtMessage ?? 'a write has an unknown outcome'}; ${tail}. Retry once the producer's retry is acknowledged, or force the move to accept the duplicate risk.`;
  }
  if (cause === 'cancelled') return `${move.label} to ${to} was cancelled while draining; ${tail}.`;
  const busy: string[] = [];
  for (const ts of move.claimed) {
    for (const ps of ts.partitions.values()) if (ps.inFlight > 0) busy.push(`${ts.name}[${ps.partition}]×${ps.inFlight}`);
  }
  const shown = busy.slice(0, 10).join(', ') + (busy.length > 10 ? `, … (${busy.length} partitions)` : '');
  return (
    `${move.label} to ${to} aborted: the drain did not finish within ${move.spec.timeoutMs} ms; ` +
    `still waiting for ${from} to answer ${shown || 'in-flight requests'}; ${tail}. Check ${from}'s health and retry.`
  );
}
