// A participant of the move protocol (move-protocol.ts): one per proxy instance. It owns what is local to the
// instance — the switch table its data path resolves with and the cutover barrier its Produce path admits
// through — and does the instance's part of every move: hold and drain on prepare, report, then install the
// new routes and release on commit, or release to the old cluster on abort.

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
  readonly #beforeHold: BeforeHoldHook | null;
  readonly #moves = new Map<string, LocalMove>();

  constructor(options: ParticipantOptions) {
    this.member = options.member;
    this.#table = options.table;
    this.#barrier = options.barrier;
    this.#send = options.send;
    this.#onFirstOffset = options.onFirstOffset;
    this.#beforeHold = options.beforeHold ?? null;
  }

  /** Everything the coordinator sends arrives here. */
  handle(message: CoordinatorMessage): void {
    switch (message.type) {
      case 'prepare':
        void this.#prepare(message);
        return;
      case 'commit':
      case 'abort': {
        const move = message.moveId === null ? undefined : this.#moves.get(message.moveId);
        if (move === undefined) {
          if (message.type === 'commit') this.#installOnly(message);
          return;
        }
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
    if (version !== current.version + 1) {
      // Out of step with the store: the coordinator's commit message carries only the change. Refuse loudly;
      // the control plane reloads from the store.
      throw new Error(`${this.member}: cannot install version ${version} on top of version ${current.version}`);
    }
    this.#table.swap(applyChanges(current, changes, version));
  }

  async #prepare(message: PrepareMessage): Promise<void> {
    const move: LocalMove = { cancel: new AbortController(), decision: null, early: null, version: null };
    this.#moves.set(message.moveId, move);
    const snapshot = this.#table.snapshot;
    const next = this.#table.preview(applyChanges(snapshot.assignment(), message.changes, snapshot.version + 1));
    const moving = (topic: string): boolean => snapshot.resolve(topic).cluster !== next.resolve(topic).cluster;
    const partitions = new Map(message.partitions.map((p) => [p.topic, p.partitions]));
    let result: MoveResult;
    let guard: MoveGuard | null = null;
    try {
      if (this.#beforeHold !== null) {
        guard = await this.#beforeHold({ label: message.label, from: message.from, to: message.to, topics: message.topics, moving, signal: move.cancel.signal });
      }
      const held = guard;
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
        commit: (context) => this.#awaitDecision(message, move, context, held),
        onFirstOffset: (event) => {
          if (move.version !== null) this.#onFirstOffset(move.version, event.topic, event.partition, event.offset);
        },
      });
    } catch (error) {
      guard?.release(false);
      this.#moves.delete(message.moveId);
      if (error instanceof CoordinatorAbort) this.#send({ type: 'aborted', moveId: message.moveId, member: this.member });
      else this.#send({ type: 'prepare-failed', moveId: message.moveId, member: this.member, aborted: null, error: errorToWire(error) });
      return;
    }
    guard?.release(result.outcome === 'committed');
    this.#moves.delete(message.moveId);
    if (result.outcome === 'aborted') {
      this.#send({ type: 'prepare-failed', moveId: message.moveId, member: this.member, aborted: result, error: null });
    } else {
      this.#send({ type: 'released', moveId: message.moveId, member: this.member, version: move.version ?? 0, result });
    }
  }

  /** The barrier's commit step: report the drain, wait for the coordinator, install on commit. */
  #awaitDecision(message: PrepareMessage, move: LocalMove, context: CommitContext, guard: MoveGuard | null): Promise<void> {
    this.#send({
      type: 'prepared',
      moveId: message.moveId,
      member: this.member,
      topics: context.topics,
      partitions: context.partitions,
      holdMs: context.holdMs,
      drainMs: context.drainMs,
      heldRequests: context.heldRequests,
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
    });
  }
}
