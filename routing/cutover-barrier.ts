// The cutover barrier (docs/design.md §4, docs/protocol-notes.md §c "What this means for a flip"): moves the Produce traffic of some
// topics from one cluster to the other so that no partition ever has writes to both clusters interleaved.
//
// The data path's contract (Ticket, Rejection, CompletionOutcome, admit/complete/abandon) is in barrier-contract.ts;
// what a move is asked and reports (MoveSpec, MoveResult, …) in move-spec.ts; the per-topic bookkeeping in barrier-state.ts.
//
// ── What a move does ───────────────────────────────────────────────────────────────────────────────────────────
// 1 hold: new admissions for the moving topics queue here (bounded by maxHeldRequests; beyond it, an immediate
//   retriable rejection). Other topics never wait.
// 2 drain: wait for every ticket admitted before the hold to complete.
// 3 record, per partition, the last offset acknowledged by the old cluster (null if this proxy saw none).
// 4 commit() (the caller persists and installs the new route), bump the topics' generation, release the held
//   admissions in arrival order to the new cluster. The first acknowledged write on the new cluster is reported
//   through onFirstOffset (the ledger's firstOffsetOnNew).
// 5 bound: no drain within timeoutMs → abort: no commit, held admissions go to the old cluster.
//   The optional afterDrain step (move-spec.ts; write-back's copy tail on a rollback) runs after the tickets
//   drained, within the same bound; its message aborts the move the same way.
// 6 failed drains keep order: if a write for a partition failed on the old cluster (during the drain, or
//   recently before the hold), or an admission for it was rejected over the bound, its held admissions are
//   answered NOT_LEADER_OR_FOLLOWER instead of being forwarded, so the client resends the failed batch and
//   everything after it, in sequence order, to the new cluster. The new cluster accepts any first sequence from
//   a fresh producer id, so a later batch must never reach it before the failed one.
//   For a short quarantine after the release (quarantineMs) new admissions for such a partition are rejected
//   too: a batch the client sent before it saw the failure may still be on the wire. This narrows a timing
//   window; the exact guard belongs in the data path's pid mapper (under a new generation, forward a client
//   pid's first batch only if its baseSequence follows the last one acknowledged on the old cluster).
// 7 writes with an unknown outcome: a batch that may or may not be on the old cluster must be retried there,
//   under the old producer id, where the broker can deduplicate it (docs/protocol-notes.md §c points 4-5). Retried on the new
//   cluster under a fresh pid it cannot be deduplicated: if the old cluster had written it, it would exist on
//   both (a cross-cluster duplicate, visible only in the ledger). So by default (inDoubt: 'abort') such a write
//   — during the drain, or unresolved (no acknowledged write since) within unresolvedWindowMs before the hold —
//   aborts the whole move: the route stays, the client's retry lands on the old cluster and is deduplicated,
//   and the operator retries the flip. inDoubt: 'reject' (used for forced flips) treats it like a failed write:
//   held admissions are rejected and the client's retry goes to the new cluster, accepting the duplicate risk.
//
// Two moves that touch the same topic never run at once: the second fails at once with RouteConflictError (409).
// Safety net: if the route of a partition changes while it has tickets in flight on the other cluster (a route
// changed without a move), admit answers a retriable rejection instead of interleaving ("route-mismatch").

import type { Cluster } from './cluster.ts';
import { InvalidTicketError } from './errors.ts';
import type { Admission, CompletionOutcome, PartitionRouter, Rejection, RejectionReason, Ticket } from './barrier-contract.ts';
import { ActiveMove, CutoverTicket, NO_TIME, PartitionState, TopicState, abortMessage, inDoubtMessage } from './barrier-state.ts';
import type { ActiveMoveInfo, AfterDrain, CutoverBarrierOptions, MoveResult, MoveSpec } from './move-spec.ts';
import { checkConflicts, drain, moveInfo, moveResult, partitionReports, runAfterDrain } from './barrier-move-steps.ts';
import { watchFirstOffset } from './barrier-first-offset.ts';
import { REJECT_FAILED_DRAIN, REJECT_HELD_LIMIT, REJECT_QUARANTINE, REJECT_ROUTE_MISMATCH, realTimer } from './barrier-rejections.ts';

// Re-exported so existing imports from this file keep working; new code imports barrier-contract.ts / move-spec.ts.
export { isRejection } from './barrier-contract.ts';
export type { Admission, CompletionOutcome, PartitionRouter, Rejection, RejectionReason, Ticket } from './barrier-contract.ts';
export type { AbortCause, ActiveMoveInfo, AfterDrain, CommitContext, CutoverBarrierOptions, FirstOffsetEvent, MoveResult, MoveSpec, MoveTimings, PartitionReport } from './move-spec.ts';

export class CutoverBarrier implements PartitionRouter {
  readonly #routeOf: (topic: string) => Cluster;
  readonly #now: () => number;
  readonly #schedule: (callback: () => void, delayMs: number) => () => void;
  readonly #quarantineMs: number;
  readonly #unresolvedWindowMs: number;
  readonly #afterDrain: AfterDrain | undefined;
  readonly #topics = new Map<string, TopicState>();
  readonly #moves = new Set<ActiveMove>();
  #heldNow = 0;
  #inFlight = 0;
  #routeMismatches = 0;

  constructor(options: CutoverBarrierOptions) {
    this.#routeOf = options.routeOf;
    this.#now = options.now ?? (() => performance.now());
    this.#schedule = options.schedule ?? realTimer;
    this.#quarantineMs = options.quarantineMs ?? 250;
    this.#unresolvedWindowMs = options.unresolvedWindowMs ?? 120_000;
    this.#afterDrain = options.afterDrain;
  }

  // ── data path ──────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Synchronous Ticket (forward) or Rejection (answer with a retriable error) when the topic is not held;
   * a Promise of either while a move holds the topic.
   */
  admit(topic: string, partition: number): Admission | Promise<Admission> {
    const ts = this.#topics.get(topic) ?? this.#createTopic(topic);
    const ps = ts.partitions.get(partition) ?? this.#createPartition(ts, partition);
    if (ts.hold !== null) return this.#hold(ts.hold, ts, ps);
    if (ps.quarantineUntil !== 0) {
      if (this.#now() < ps.quarantineUntil) return REJECT_QUARANTINE;
      ps.quarantineUntil = 0;
    }
    return this.#issue(ts, ps);
  }

  /** The upstream answered for this ticket's partition. */
  complete(ticket: Ticket, outcome: CompletionOutcome): void {
    const t = this.#settle(ticket);
    const ps = t.partitionState;
    const ts = t.topicState;
    if (outcome.ok) {
      const last = outcome.lastOffset ?? outcome.baseOffset;
      // Offsets < 0: acks=0 or a client that gave none; nothing to record.
      if (t.generation === ts.generation && last >= 0n && (ps.lastOffset === null || last > ps.lastOffset)) ps.lastOffset = last;
      ps.lastOkAt = this.#now();
      watchFirstOffset(t, outcome.baseOffset >= 0n ? outcome.baseOffset : null);
    } else if (outcome.written === 'unknown') {
      ps.lastUnknownAt = this.#now();
      ps.lastUnknownCode = outcome.errorCode;
    } else {
      ps.lastFailedAt = this.#now();
    }
    if (!outcome.ok) watchFirstOffset(t, null);
    this.#afterSettle(t, outcome);
  }

  /** The ticket's request was never sent upstream: forget it without recording an outcome. */
  abandon(ticket: Ticket): void {
    const t = this.#settle(ticket);
    watchFirstOffset(t, null);
    this.#afterSettle(t, null);
  }

  // ── control ────────────────────────────────────────────────────────────────────────────────────────────────

  /** Moves the topics' traffic from `spec.from` to `spec.to`. See the header for the steps. */
  async move(spec: MoveSpec): Promise<MoveResult> {
    if (!(Number.isFinite(spec.timeoutMs) && spec.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${spec.timeoutMs}`);
    if (!(Number.isInteger(spec.maxHeldRequests) && spec.maxHeldRequests >= 0)) {
      throw new RangeError(`maxHeldRequests must be an integer >= 0, got ${spec.maxHeldRequests}`);
    }
    const explicit = new Set(spec.topics);
    const move = new ActiveMove(spec, explicit);
    checkConflicts(this.#moves, move);

    const started = this.#now();
    try {
      for (const name of explicit) this.#claim(move, this.#topics.get(name) ?? this.#createTopic(name));
      if (spec.matches !== undefined) {
        for (const ts of this.#topics.values()) if (ts.hold === null && spec.matches(ts.name)) this.#claim(move, ts);
      }
    } catch (error) {
      // A throwing callback (matches, routeOf) must not leave topics held by a move that never runs.
      this.#abort(move);
      throw error;
    }
    // Registered after the listed topics are claimed, so #createTopic above does not try to claim them for it.
    this.#moves.add(move);

    let end = await drain(move, this.#schedule);
    let stepMessage: string | null = null;
    if (end === 'drained' && this.#afterDrain !== undefined) {
      stepMessage = await runAfterDrain(this.#afterDrain, move, spec.timeoutMs - (this.#now() - started));
      if (stepMessage !== null) end = 'timeout';
    }
    const drainMs = this.#now() - started;
    const partitions = partitionReports(move, (ts, partition) => ts.partitions.get(partition) ?? this.#createPartition(ts, partition));
    if (end !== 'drained') {
      const message = stepMessage === null ? abortMessage(move, end) : `${move.label} to ${spec.to} aborted: ${stepMessage}; the route stays on ${spec.from} and held requests went to ${spec.from}.`;
      const abort = { cause: end, message };
      this.#abort(move);
      const at = this.#now();
      return moveResult(move, abort, partitions, { holdMs: at - started, drainMs, commitMs: 0, totalMs: at - started });
    }

    move.phase = 'committing';
    const commitStart = this.#now();
    let committedVersion: number | void;
    try {
      committedVersion = await spec.commit({
        from: spec.from,
        to: spec.to,
        topics: [...move.claimed].map((ts) => ts.name),
        partitions,
        holdMs: commitStart - started,
        drainMs,
        heldRequests: move.heldTotal,
      });
    } catch (error) {
      this.#abort(move);
      throw error;
    }
    const commitMs = this.#now() - commitStart;
    this.#release(move, typeof committedVersion === 'number' ? committedVersion : null);
    const released = this.#now();
    return moveResult(move, null, partitions, { holdMs: released - started, drainMs, commitMs, totalMs: released - started });
  }

  // ── gauges ─────────────────────────────────────────────────────────────────────────────────────────────────

  /** Admissions waiting in the barrier now. */
  get heldNow(): number {
    return this.#heldNow;
  }

  /** Tickets in flight now, all topics. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Tickets in flight per topic (topics with none are left out). */
  inFlightByTopic(): Map<string, number> {
    const out = new Map<string, number>();
    for (const ts of this.#topics.values()) if (ts.inFlight > 0) out.set(ts.name, ts.inFlight);
    return out;
  }

  /** Admissions rejected because a route changed under in-flight tickets; should stay 0. */
  get routeMismatches(): number {
    return this.#routeMismatches;
  }

  activeMoves(): ActiveMoveInfo[] {
    return [...this.#moves].map(moveInfo);
  }

  isHeld(topic: string): boolean {
    return (this.#topics.get(topic)?.hold ?? null) !== null;
  }

  /**
   * At start: the topic's generation as it was before the restart (the table version of its last move, from the
   * ledger), so producer-id mappings persisted per generation are found again. Never lowers a generation.
   */
  seedGeneration(topic: string, generation: number): void {
    const ts = this.#topics.get(topic) ?? this.#createTopic(topic);
    if (generation > ts.generation) ts.generation = generation;
  }

  /** The topic's current generation (0 until its first move through this barrier). */
  generationOf(topic: string): number {
    return this.#topics.get(topic)?.generation ?? 0;
  }

  /** Topics this barrier has seen (admitted or moved). */
  knownTopics(): string[] {
    return [...this.#topics.keys()];
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────────────────

  #createTopic(name: string): TopicState {
    const ts = new TopicState(name);
    this.#topics.set(name, ts);
    // A topic first seen during a move that covers it (a prefix or pattern rule) is held like the others.
    for (const move of this.#moves) {
      if (move.wants(name)) {
        this.#claim(move, ts);
        break;
      }
    }
    return ts;
  }

  #createPartition(ts: TopicState, partition: number): PartitionState {
    if (!Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff) {
      throw new RangeError(`invalid partition ${partition} for topic ${ts.name}`);
    }
    const ps = new PartitionState(partition);
    ts.partitions.set(partition, ps);
    if (ts.hold !== null) this.#initMoveFlags(ps);
    return ps;
  }

  #claim(move: ActiveMove, ts: TopicState): void {
    ts.hold = move;
    ts.routeAtHold = this.#routeOf(ts.name);
    move.claimed.add(ts);
    for (const ps of ts.partitions.values()) {
      this.#initMoveFlags(ps);
      // The watch for the previous move's first offset stays: its first write may still be in flight and must
      // complete that ledger entry; complete() ignores a stale generation and #release replaces the watch.
      move.pending += ps.inFlight;
    }
  }

  /** Carries recent trouble from before the hold into the move (see points 6 and 7 of the header). */
  #initMoveFlags(ps: PartitionState): void {
    const since = this.#now() - this.#unresolvedWindowMs;
    ps.failedInMove = ps.lastFailedAt >= since;
    ps.inDoubtInMove = ps.lastUnknownAt >= since && ps.lastUnknownAt > ps.lastOkAt;
    ps.overflowed = false;
  }

  #clearMoveFlags(ps: PartitionState): void {
    ps.failedInMove = false;
    ps.inDoubtInMove = false;
    ps.overflowed = false;
  }

  #hold(move: ActiveMove, ts: TopicState, ps: PartitionState): Admission | Promise<Admission> {
    if (move.held.length >= move.spec.maxHeldRequests) {
      // Later batches of this partition must not overtake the rejected one on the new cluster: see point 6.
      ps.overflowed = true;
      move.rejected += 1;
      return REJECT_HELD_LIMIT;
    }
    move.heldTotal += 1;
    this.#heldNow += 1;
    return new Promise<Admission>((resolve) => {
      move.held.push({ ts, ps, resolve });
    });
  }

  #issue(ts: TopicState, ps: PartitionState): Admission {
    const cluster = this.#routeOf(ts.name);
    if (ps.inFlight > 0 && ps.inFlightCluster !== cluster) {
      this.#routeMismatches += 1;
      return REJECT_ROUTE_MISMATCH;
    }
    ps.inFlight += 1;
    ps.inFlightCluster = cluster;
    ts.inFlight += 1;
    this.#inFlight += 1;
    return new CutoverTicket(ts, ps, cluster);
  }

  #settle(ticket: Ticket): CutoverTicket {
    if (!(ticket instanceof CutoverTicket)) throw new InvalidTicketError('not a ticket issued by this barrier');
    if (ticket.settled) {
      throw new InvalidTicketError(`ticket for ${ticket.topic}[${ticket.partition}] was already completed or abandoned`);
    }
    ticket.settled = true;
    return ticket;
  }

  #afterSettle(t: CutoverTicket, outcome: CompletionOutcome | null): void {
    const ps = t.partitionState;
    const ts = t.topicState;
    const releasedBy = t.releasedBy;
    if (releasedBy !== null && --releasedBy.releasedOpen === 0) releasedBy.spec.onReleaseSettled?.();
    ps.inFlight -= 1;
    ts.inFlight -= 1;
    this.#inFlight -= 1;
    const move = ts.hold;
    if (move === null || move.phase !== 'draining') return;
    if (outcome !== null && !outcome.ok) {
      if (outcome.written === 'unknown') {
        ps.inDoubtInMove = true;
        if (move.inDoubtPolicy === 'abort') {
          move.inDoubtMessage ??= inDoubtMessage(move, ts, ps, outcome.errorCode);
          move.finishDrain('in-doubt');
        }
      } else {
        ps.failedInMove = true;
      }
    }
    move.pending -= 1;
    if (move.pending === 0) move.finishDrain('drained');
  }

  /** Abort: nothing changes; held admissions go (in arrival order) where the route still points: the old cluster. */
  #abort(move: ActiveMove): void {
    this.#moves.delete(move);
    for (const ts of move.claimed) {
      ts.hold = null;
      ts.routeAtHold = null;
      for (const ps of ts.partitions.values()) this.#clearMoveFlags(ps);
    }
    this.#flushHeld(move, () => false);
  }

  /**
   * After a successful commit: new generation, release held admissions to the new route. The generation of a moved
   * topic becomes the committed table version when the commit step reports one (monotonic, unique per move, and
   * recoverable after a restart from the ledger: see seedGeneration), else the next integer.
   */
  #release(move: ActiveMove, version: number | null): void {
    this.#moves.delete(move);
    const now = this.#now();
    const rejectOnRelease = new Set<PartitionState>();
    for (const ts of move.claimed) {
      ts.hold = null;
      const moved = this.#routeOf(ts.name) !== ts.routeAtHold;
      ts.routeAtHold = null;
      // `>=`: the route log may have seeded this very version already (a member reads it before the commit message).
      if (moved) ts.generation = version !== null && version >= ts.generation ? version : ts.generation + 1;
      for (const ps of ts.partitions.values()) {
        if (ps.failedInMove || ps.overflowed || (ps.inDoubtInMove && move.inDoubtPolicy === 'reject')) {
          rejectOnRelease.add(ps);
          if (this.#quarantineMs > 0) ps.quarantineUntil = now + this.#quarantineMs;
        }
        this.#clearMoveFlags(ps);
        if (moved) {
          // History of the old cluster must not leak into the new generation.
          ps.lastOffset = null;
          ps.lastOkAt = NO_TIME;
          ps.lastFailedAt = NO_TIME;
          ps.lastUnknownAt = NO_TIME;
          const notify = move.spec.onFirstOffset;
          ps.firstOffsetWatch = notify === undefined ? null : { generation: ts.generation, notify, min: null, horizon: null, pending: 0, cluster: null };
        }
      }
    }
    this.#flushHeld(move, (ps) => rejectOnRelease.has(ps));
  }

  #flushHeld(move: ActiveMove, rejectIf: (ps: PartitionState) => boolean): void {
    const held = move.held.splice(0);
    this.#heldNow -= held.length;
    for (const h of held) {
      if (rejectIf(h.ps)) {
        move.rejected += 1;
        h.resolve(REJECT_FAILED_DRAIN);
      } else {
        const admission = this.#issue(h.ts, h.ps);
        if (admission instanceof CutoverTicket) {
          admission.releasedBy = move;
          move.releasedOpen += 1;
        }
        h.resolve(admission);
      }
    }
    if (move.releasedOpen === 0) move.spec.onReleaseSettled?.();
  }
}
