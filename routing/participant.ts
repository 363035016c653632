// A participant of the move protocol (move-protocol.ts): one per proxy instance. It owns what is local to the
// instance — the switch table its data path resolves with and the cutover barrier its Produce path admits
// through — and does the instance's part of every move: warm the new side, hold and drain on prepare, report,
// then install the new routes and release on commit, or release to the old cluster on abort.
//
// Warm before hold (warm-up.ts): the new cluster's metadata, connections and producer ids are made ready while
// producers still write to the old one; a warm-up that fails fails the move before anything is held.
// Release fast: between the durable commit and the release there is nothing but the in-process transport's
// microtask hops and the table swap; the audit and ledger are in the commit itself, first offsets are saved
// later, and the error window (move-errors.ts) closes after the release, off the held requests' path.

import { CutoverBarrier } from './cutover-barrier.ts';
import type { CommitContext, MoveResult } from './move-spec.ts';
import type {
  CommitMessage,
  CoordinatorMessage,
  ParticipantMessage,
  PrepareMessage,
  WireError,
} from './move-protocol.ts';
import { applyChanges, type RouteChange } from './route-state.ts';
import type { SwitchTable } from './switch-table.ts';
import { errorMessage } from './errors.ts';
import { MoveErrorWatch, type MoveErrorWindow } from './move-errors.ts';
import { WarmUpError, type WarmUp, type WarmUpReport } from './warm-up.ts';
import type { BeforeHoldHook, MoveGuard } from './move-hooks.ts';

/** Thrown into the barrier's commit step when the coordinator decided to abort: the barrier then aborts the move. */
class CoordinatorAbort extends Error {}

interface Decision {
  readonly resolve: (message: CommitMessage) => void;
  readonly reject: (error: Error) => void;
}

interface LocalMove {
  readonly cancel: AbortController;
  decision: Decision | null;
  /** A decision that arrived before the barrier asked for it (abort while draining). */
  early: CoordinatorMessage | null;
  version: number | null;
  /** The coordinator's commit or abort arrived: the move only finishes (releases) now. */
  decided: boolean;
  /** Resolves once this member's barrier finished the move (released, either way). */
  readonly finished: Promise<void>;
  readonly markFinished: () => void;
  /** The topics this move moves, as known when its prepare arrived. */
  readonly covers: (topic: string) => boolean;
  /** The coordinator waits for this member's prepared (it was asked): its writes may flow until the hold. */
  asked: boolean;
  /** The barrier holds the move's topics (from barrier.move on): until then blocks() refuses them (unless asked). */
  holding: boolean;
}

export interface ParticipantOptions {
  readonly member: string;
  readonly table: SwitchTable;
  readonly barrier: CutoverBarrier;
  /** How this participant sends to the coordinator (from the transport). */
  readonly send: (message: ParticipantMessage) => void;
  /**
   * The first offset this member saw written to the new cluster after the move of `version` (the ledger's
   * firstOffsetOnNew). Called synchronously from the data path's complete(): must be cheap and not throw.
   */
  readonly onFirstOffset: (version: number, topic: string, partition: number, offset: bigint) => void;
  /** Makes the new side ready before the hold (src/proxy/warm-up.ts); none: moves start cold. */
  readonly warmUp?: WarmUp;
  /** Where the data path reports the partition errors it answered; each move counts those of its topics. */
  readonly errors?: MoveErrorWatch;
  /** Bound of a warm-up. Default: the move's drain bound (timeoutMs). */
  readonly warmUpTimeoutMs?: number;
  /**
   * How long the move's answer waits after the release for the answers to the requests it held (their errors
   * belong to the move). Normally one round trip to the new cluster. Default 2 000 ms.
   */
  readonly releaseSettleMaxMs?: number;
  /** Runs before the barrier holds (transactions settle there); see move-hooks.ts. */
  readonly beforeHold?: BeforeHoldHook;
}

export function errorToWire(error: unknown): WireError {
  const e = error as { name?: unknown; status?: unknown; code?: unknown; details?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    status: typeof e?.status === 'number' ? e.status : null,
    code: typeof e?.code === 'string' ? e.code : null,
    message: errorMessage(error),
    details: Array.isArray(e?.details) ? e.details.filter((d): d is string => typeof d === 'string') : [],
  };
}

export class MoveParticipant {
  readonly member: string;
  readonly #table: SwitchTable;
  readonly #barrier: CutoverBarrier;
  readonly #send: (message: ParticipantMessage) => void;
  readonly #onFirstOffset: ParticipantOptions['onFirstOffset'];
  readonly #warmUp: WarmUp | null;
  readonly #errors: MoveErrorWatch;
  readonly #warmUpTimeoutMs: number | null;
  readonly #releaseSettleMaxMs: number;
  readonly #beforeHold: BeforeHoldHook | null;
  readonly #moves = new Map<string, LocalMove>();
  /** Moves this member has finished: a redelivered prepare of one of them must not start a hold no one decides. */
  readonly #finished = new Set<string>();
  /**
   * Prepares that failed here and whose decision has not arrived: their topics stay blocked (see blocks()). A
   * coordinator that did not ask this member (it was gone or not started when the move began) does not wait for
   * its answer, so the move may still commit; forwarding on the old route meanwhile would interleave clusters.
   */
  readonly #undecided = new Map<string, (topic: string) => boolean>();

  constructor(options: ParticipantOptions) {
    this.member = options.member;
    this.#table = options.table;
    this.#barrier = options.barrier;
    this.#send = options.send;
    this.#onFirstOffset = options.onFirstOffset;
    this.#warmUp = options.warmUp ?? null;
    this.#errors = options.errors ?? new MoveErrorWatch();
    this.#warmUpTimeoutMs = options.warmUpTimeoutMs ?? null;
    this.#releaseSettleMaxMs = options.releaseSettleMaxMs ?? 2_000;
    this.#beforeHold = options.beforeHold ?? null;
  }

  /**
   * Whether the data path must refuse (retriable, not hold) a write for `topic` now: a move's prepare arrived and
   * its hold has not started yet (it waits for a warm-up or for a move still finishing here), or it failed here
   * and its decision is still to come. Either way the move may commit without this member's hold — its
   * coordinator counts only the members it asked — so a write forwarded now could land on the old cluster after
   * the new route was committed. (Found by the simulation: a member back from a partition read a prepare while
   * it still waited for the previous move to finish, and forwarded on the old route as the move committed.)
   * A member the coordinator asked is not refused before its hold: the move cannot commit without its prepared,
   * which it sends only after holding and draining; refusing it would stall open transactions (their data must
   * reach the old cluster before the drain ends) and make every warm-up visible to producers.
   */
  blocks(topic: string): boolean {
    for (const m of this.#moves.values()) if (!m.holding && !m.asked && m.covers(topic)) return true;
    for (const covers of this.#undecided.values()) if (covers(topic)) return true;
    return false;
  }

  /** Moves whose prepare failed here and whose decision is still to come (the fleet resolves them if orphaned). */
  undecided(): string[] {
    return [...this.#undecided.keys()];
  }

  /** Unblocks a failed prepare whose move was resolved elsewhere (fleet: its coordinator is gone; see orphans). */
  forget(moveId: string): void {
    this.#undecided.delete(moveId);
  }

  /** Everything the coordinator sends arrives here. */
  handle(message: CoordinatorMessage): void {
    switch (message.type) {
      case 'prepare':
        void this.#prepare(message);
        return;
      case 'commit':
      case 'abort': {
        if (message.moveId !== null) this.#undecided.delete(message.moveId);
        const move = message.moveId === null ? undefined : this.#moves.get(message.moveId);
        if (move === undefined) {
          if (message.type === 'commit') this.#installOnly(message);
          // Already finished here (the coordinator's abort was repeated, or this member settled the move itself):
          // answer again, or a coordinator that waits for this answer waits forever.
          else if (this.#finished.has(message.moveId)) this.#send({ type: 'aborted', moveId: message.moveId, member: this.member });
          return;
        }
        move.decided = true;
        if (move.decision !== null) {
          if (message.type === 'commit') move.decision.resolve(message);
          else move.decision.reject(new CoordinatorAbort(message.reason));
          return;
        }
        // Still draining: an abort cancels the drain (the barrier reports 'cancelled').
        move.early = message;
        if (message.type === 'abort') move.cancel.abort();
        return;
      }
    }
  }

  /** Installs a change committed elsewhere (no move on this member): the barrier's route-mismatch net applies. */
  install(version: number, changes: readonly RouteChange[]): void {
    this.#swap(version, changes);
  }

  #installOnly(message: CommitMessage): void {
    this.#swap(message.version, message.changes);
    this.#send({ type: 'released', moveId: message.moveId, member: this.member, version: message.version, result: null });
  }

  #swap(version: number, changes: readonly RouteChange[]): void {
    const current = this.#table.snapshot.assignment();
    // Already installed (redelivered, or read from the route log before the coordinator's message): nothing to do.
    if (version <= current.version) return;
    if (version !== current.version + 1) {
      // Out of step with the store: the coordinator's commit message carries only the change. Refuse loudly;
      // the control plane reloads from the store.
      throw new Error(`${this.member}: cannot install version ${version} on top of version ${current.version}`);
    }
    this.#table.swap(applyChanges(current, changes, version));
  }

  async #prepare(message: PrepareMessage): Promise<void> {
    // A transport that redelivers (a consumer re-reading its log) repeats prepares: one hold per move.
    if (this.#moves.has(message.moveId) || this.#finished.has(message.moveId)) return;
    let markFinished = (): void => undefined;
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    const listed = new Set(message.topics);
    const before = this.#table.snapshot;
    const after = this.#table.preview(applyChanges(before.assignment(), message.changes, before.version + 1));
    const covers = (topic: string): boolean => listed.has(topic) || (message.holdMatching && before.resolve(topic).cluster !== after.resolve(topic).cluster);
    const asked = message.asked?.includes(this.member) ?? false;
    const move: LocalMove = { cancel: new AbortController(), decision: null, early: null, version: null, decided: false, finished, markFinished, covers, holding: false, asked };
    this.#moves.set(message.moveId, move);
    // A move already decided here is still releasing (the barrier finishes asynchronously): a prepare read right
    // after its commit (same batch of the move log) waits for that instead of failing as a conflicting move.
    // Failing would be safe for a member the coordinator asked (its prepare-failed aborts the move), but not for
    // one it did not count (joined or restarted since): it would forward on the old route while the move commits.
    const finishing = [...this.#moves.values()].filter((m) => m !== move && m.decided).map((m) => m.finished);
    if (finishing.length > 0) await Promise.all(finishing);
    const snapshot = this.#table.snapshot;
    const next = this.#table.preview(applyChanges(snapshot.assignment(), message.changes, snapshot.version + 1));
    const moving = (topic: string): boolean => snapshot.resolve(topic).cluster !== next.resolve(topic).cluster;
    const partitions = new Map(message.partitions.map((p) => [p.topic, p.partitions]));
    const window = this.#errors.open(message.topics, message.holdMatching ? moving : undefined);
    let warmUp: WarmUpReport | null;
    try {
      warmUp = await this.#warm(message, message.holdMatching ? moving : null, move.cancel.signal);
    } catch (error) {
      // Nothing is held yet: the route stays and producers never noticed. The coordinator aborts the others.
      window.close();
      this.#finish(message.moveId);
      this.#failedUndecided(message.moveId, move);
      this.#send({ type: 'prepare-failed', moveId: message.moveId, member: this.member, aborted: null, error: errorToWire(error) });
      return;
    }
    let releaseSettled: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (releaseSettled = resolve));
    let result: MoveResult;
    let guard: MoveGuard | null = null;
    try {
      if (this.#beforeHold !== null) {
        guard = await this.#beforeHold({ label: message.label, from: message.from, to: message.to, topics: message.topics, moving, signal: move.cancel.signal, moveId: message.moveId });
      }
      const held = guard;
      // barrier.move claims (holds) the topics synchronously, before its first await: blocks() may let go now.
      move.holding = true;
      result = await this.#barrier.move({
        topics: message.topics,
        ...(message.holdMatching ? { matches: moving } : {}),
        partitionsOf: (topic) => partitions.get(topic) ?? 'unknown',
        from: message.from,
        to: message.to,
        timeoutMs: message.timeoutMs,
        maxHeldRequests: message.maxHeldRequests,
        inDoubt: message.inDoubt,
        label: message.label,
        signal: move.cancel.signal,
        commit: (context) => this.#awaitDecision(message, move, context, window, held),
        onFirstOffset: (event) => {
          if (move.version !== null) this.#onFirstOffset(move.version, event.topic, event.partition, event.offset);
        },
        onReleaseSettled: () => releaseSettled(),
      });
    } catch (error) {
      guard?.release(false);
      window.close();
      this.#finish(message.moveId);
      if (error instanceof CoordinatorAbort) this.#send({ type: 'aborted', moveId: message.moveId, member: this.member });
      else {
        this.#failedUndecided(message.moveId, move);
        this.#send({ type: 'prepare-failed', moveId: message.moveId, member: this.member, aborted: null, error: errorToWire(error) });
      }
      return;
    }
    guard?.release(result.outcome === 'committed');
    // The released requests are on their way (nothing here delays them); their answers close the error window.
    await this.#afterRelease(settled);
    result = { ...result, partitionErrors: window.close(), warmUp };
    this.#finish(message.moveId);
    if (result.outcome === 'aborted') {
      this.#failedUndecided(message.moveId, move);
      this.#send({ type: 'prepare-failed', moveId: message.moveId, member: this.member, aborted: result, error: null });
    } else {
      this.#send({ type: 'released', moveId: message.moveId, member: this.member, version: move.version ?? 0, result });
    }
  }

  /** A prepare failed here before its decision arrived: its topics stay blocked until it does (see blocks()). */
  #failedUndecided(moveId: string, move: LocalMove): void {
    if (!move.decided) this.#undecided.set(moveId, move.covers);
  }

  #finish(moveId: string): void {
    this.#moves.get(moveId)?.markFinished();
    this.#moves.delete(moveId);
    this.#finished.add(moveId);
    // Bounded: redelivery repeats recent messages, not a whole history.
    if (this.#finished.size > 10_000) this.#finished.delete(this.#finished.values().next().value as string);
  }

  /** Runs the warm-up (if any) within its bound; throws WarmUpError with the reason when the new side is not ready. */
  async #warm(message: PrepareMessage, moving: ((topic: string) => boolean) | null, cancel: AbortSignal): Promise<WarmUpReport | null> {
    if (this.#warmUp === null) return null;
    const names = new Set(message.topics);
    if (moving !== null) for (const topic of this.#barrier.knownTopics()) if (moving(topic)) names.add(topic);
    // The generation the move will create: a moved topic's generation becomes the committed table version (see the
    // barrier's #release), normally the current version + 1; if another move commits first, the pre-allocated
    // mappings are simply not used (the first batch allocates, as without a warm-up).
    const next = this.#table.snapshot.version + 1;
    const topics = [...names].sort().map((topic) => ({ topic, generation: Math.max(next, this.#barrier.generationOf(topic) + 1) }));
    const boundMs = this.#warmUpTimeoutMs ?? message.timeoutMs;
    const stop = new AbortController();
    const onCancel = (): void => stop.abort(new WarmUpError(`${message.label}: cancelled while warming ${message.to}`));
    cancel.addEventListener('abort', onCancel, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const explanations: (() => string | null)[] = [];
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const why = explanations.map((f) => f()).filter((w) => w !== null);
        const detail = why.length > 0 ? ` (${why.join('; ')})` : '';
        const error = new WarmUpError(`${message.label}: warming ${message.to} did not finish within ${boundMs} ms${detail}; nothing was held and the route stays on ${message.from}`);
        stop.abort(error);
        reject(error);
      }, boundMs);
      stop.signal.addEventListener('abort', () => reject(stop.signal.reason), { once: true });
    });
    try {
      return await Promise.race([this.#warmUp({ label: message.label, from: message.from, to: message.to, topics, signal: stop.signal, explain: (f) => explanations.push(f) }), bound]);
    } catch (error) {
      if (error instanceof WarmUpError) throw error;
      throw new WarmUpError(
        `${message.label}: ${message.to} cluster is not ready for the move (${errorMessage(error)}); nothing was held and the route stays on ${message.from}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
      cancel.removeEventListener('abort', onCancel);
      bound.catch(() => undefined);
    }
  }

  /** Waits (bounded) until the requests the move held are answered, then one turn more so their answers are counted. */
  async #afterRelease(settled: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#releaseSettleMaxMs)))]);
    clearTimeout(timer);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** The barrier's commit step: report the drain, wait for the coordinator, install on commit. */
  #awaitDecision(message: PrepareMessage, move: LocalMove, context: CommitContext, window: MoveErrorWindow, guard: MoveGuard | null): Promise<number> {
    this.#send({
      type: 'prepared',
      moveId: message.moveId,
      member: this.member,
      topics: context.topics,
      partitions: context.partitions,
      holdMs: context.holdMs,
      drainMs: context.drainMs,
      heldRequests: context.heldRequests,
      partitionErrors: window.snapshot(),
    });
    return new Promise<CommitMessage>((resolve, reject) => {
      move.decision = { resolve, reject };
      const early = move.early;
      if (early?.type === 'commit') resolve(early);
      else if (early?.type === 'abort') reject(new CoordinatorAbort(early.reason));
    }).then(async (commit) => {
      move.version = commit.version;
      await guard?.beforeSwitch?.();
      this.#swap(commit.version, commit.changes);
      return commit.version;
    });
  }
}
