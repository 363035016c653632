// The coordinator of the move protocol (move-protocol.ts): decides and commits a move. It sends prepare to every
// member, waits until all of them prepared (held and drained), builds the version's commit from their reports,
// commits it to the store with compare-and-set, then tells the members to install and release. Any member
// failing to prepare, a refused plan or a failed or stale store commit aborts the move on every member: the
// routes stay, held requests go to the old cluster, nothing is half-switched.

import { randomUUID } from 'node:crypto';
import { RouteConflictError, RoutingError, RoutingErrorCode, StaleVersionError, StateStoreError, errorMessage } from './errors.ts';
import type { MoveResult } from './move-spec.ts';
import type {
  CoordinatorMessage,
  MoveTransport,
  ParticipantMessage,
  PrepareMessage,
  PreparedMessage,
  WireError,
} from './move-protocol.ts';
import { applyChanges, type RouteAssignment } from './route-state.ts';
import type { StateCommit, StateStore } from './state-store.ts';

export type MoveRequest = Omit<PrepareMessage, 'type' | 'moveId'> & {
  /** Cancels the move while it drains: the coordinator sends abort. */
  readonly signal?: AbortSignal;
};

export interface CommitInput {
  /** The version being created (the committed routes' version + 1). */
  readonly version: number;
  /** The committed routes this version builds on, to re-check the plan. */
  readonly routes: RouteAssignment;
  /** Every member's drain report (empty for a change without traffic). */
  readonly prepared: readonly PreparedMessage[];
}

/** One member's part in a committed move (the hold it saw), or why it has none. */
export interface MemberReport {
  readonly member: string;
  /** released: installed and released; gone: counted gone (lease) before it answered; silent: no answer in time. */
  readonly status: 'released' | 'gone' | 'silent';
  readonly result: MoveResult | null;
}

export type MoveOutcome =
  | {
      readonly outcome: 'committed';
      readonly version: number;
      readonly commit: StateCommit;
      readonly results: readonly MoveResult[];
      readonly members: readonly MemberReport[];
    }
  | { readonly outcome: 'aborted'; readonly result: MoveResult };

export interface CoordinatorOptions {
  readonly store: StateStore;
  readonly transport: MoveTransport;
  /** The committed routes at start. */
  readonly routes: RouteAssignment;
  /** Called once a commit is durable, before members install it (the history records it here). */
  readonly onCommitted: (commit: StateCommit) => void;
  /** Names each move. Default randomUUID; the deterministic simulation (test/sim/) passes a seeded counter. */
  readonly newMoveId?: () => string;
  /**
   * Runs `callback` after `delayMs` and returns the function that cancels it. Default setTimeout/clearTimeout; the
   * deterministic simulation (test/sim/) passes its simulated clock's timer.
   */
  readonly schedule?: (callback: () => void, delayMs: number) => () => void;
  /** How often a wait re-checks transport.isGone (fleet transports). Default 50 ms. */
  readonly goneCheckMs?: number;
}

/** After timeoutMs, the coordinator waits this much longer for answers in flight before deciding. */
const REPLY_GRACE_MS = 1_000;

interface Waiting {
  readonly expect: Set<string>;
  /** Members dropped from `expect` because the transport counts them gone. */
  readonly gone: Set<string>;
  readonly replies: Map<string, ParticipantMessage>;
  readonly accept: (message: ParticipantMessage) => boolean;
  done: () => void;
}

export function errorFromWire(error: WireError): Error {
  if (error.status === 409) return new RouteConflictError(error.message, error.details);
  if (error.status !== null && error.code !== null) {
    return new RoutingError(error.code as ConstructorParameters<typeof RoutingError>[0], error.status, error.message);
  }
  if (error.name === 'RangeError') return new RangeError(error.message);
  return new Error(error.message);
}

export class MoveCoordinator {
  readonly #store: StateStore;
  readonly #transport: MoveTransport;
  readonly #onCommitted: (commit: StateCommit) => void;
  readonly #newMoveId: () => string;
  readonly #waiting = new Map<string, Waiting>();
  readonly #goneCheckMs: number;
  readonly #schedule: (callback: () => void, delayMs: number) => () => void;
  #routes: RouteAssignment;

  constructor(options: CoordinatorOptions) {
    this.#store = options.store;
    this.#transport = options.transport;
    this.#routes = options.routes;
    this.#onCommitted = options.onCommitted;
    this.#newMoveId = options.newMoveId ?? randomUUID;
    this.#goneCheckMs = options.goneCheckMs ?? 50;
    this.#schedule = options.schedule ?? ((callback, delayMs) => {
      const t = setTimeout(callback, delayMs);
      return () => clearTimeout(t);
    });
    this.#transport.onParticipantMessage((message) => this.#receive(message));
  }

  /** The committed routes as this coordinator knows them. */
  get routes(): RouteAssignment {
    return this.#routes;
  }

  /** A change committed by another writer (from the store's subscription). */
  adopt(routes: RouteAssignment): void {
    this.#routes = routes;
  }

  /** Runs a move through every member. `build` makes the version's commit (it may refuse with a 409). */
  async move(request: MoveRequest, build: (input: CommitInput) => StateCommit): Promise<MoveOutcome> {
    const moveId = this.#newMoveId();
    const members = new Set(this.#transport.members());
    const { signal, ...spec } = request;
    const prepare: PrepareMessage = { type: 'prepare', moveId, ...spec, asked: [...members] };
    // A member that never answers (paused, cut off) must not hold the move forever: after timeoutMs (plus a grace
    // for answers in flight) it counts as failed and the move aborts — unless its lease ran out first (gone).
    const deadline = request.timeoutMs + REPLY_GRACE_MS;
    const gone = new Set<string>();
    const prepared = this.#collect(moveId, members, (m) => m.type === 'prepared' || m.type === 'prepare-failed', deadline, gone);
    this.#send(prepare);
    const onAbort = (): void => this.#send({ type: 'abort', moveId, reason: `${request.label} was cancelled` });
    signal?.addEventListener('abort', onAbort, { once: true });
    let replies: Map<string, ParticipantMessage>;
    try {
      replies = await prepared;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }

    const acks = [...replies.values()].filter((m): m is PreparedMessage => m.type === 'prepared');
    // Counted gone during the wait: not silent, even if live again now (that is the commit re-check's case below).
    const silent = [...members].filter((m) => !replies.has(m) && !gone.has(m) && !(this.#transport.isGone?.(m) ?? false));
    if (silent.length > 0) {
      const reason = `${request.label}: member${silent.length > 1 ? 's' : ''} ${silent.join(', ')} did not prepare within ${request.timeoutMs} ms`;
      await this.#abort(moveId, acks, reason);
      throw new RoutingError(RoutingErrorCode.FLIP_ABORTED, 503, `${reason}; the routes are unchanged and held writes went to the old cluster`);
    }
    const failed = [...replies.values()].find((m) => m.type === 'prepare-failed');
    if (failed !== undefined && failed.type === 'prepare-failed') {
      await this.#abort(moveId, acks, `${request.label}: member ${failed.member} could not prepare`);
      if (failed.aborted !== null) return { outcome: 'aborted', result: failed.aborted };
      throw errorFromWire(failed.error ?? { name: 'Error', status: null, code: null, message: 'prepare failed', details: [] });
    }

    const refusal = this.#commitRefusal(members, gone);
    if (refusal !== null) {
      const reason = `${request.label}: ${refusal}`;
      await this.#abort(moveId, acks, reason);
      throw new RoutingError(RoutingErrorCode.FLIP_ABORTED, 503, `${reason}; the routes are unchanged and held writes went to the old cluster`);
    }

    let commit: StateCommit;
    try {
      // The commit names its move: a fleet's route log skips it if a member aborted the move first (its
      // coordinator counted gone, routing/fleet/move-decisions.ts), so a move is never half-applied.
      commit = await this.#commit(acks, (input) => ({ ...build(input), moveId }));
    } catch (error) {
      await this.#abort(moveId, acks, errorMessage(error));
      throw error;
    }
    // Only members that prepared are waited for: the others were gone, and install the version from the log.
    const ackedBy = new Set(acks.map((a) => a.member));
    const released = this.#collect(moveId, ackedBy, (m) => m.type === 'released', deadline);
    this.#send({ type: 'commit', moveId, version: commit.version, changes: commit.changes });
    const releasedBy = await released;
    const results = [...releasedBy.values()].flatMap((m) => (m.type === 'released' && m.result !== null ? [m.result] : []));
    const reports: MemberReport[] = [...members].sort().map((member) => {
      const m = releasedBy.get(member);
      if (m?.type === 'released') return { member, status: 'released', result: m.result };
      return { member, status: ackedBy.has(member) ? 'silent' : 'gone', result: null };
    });
    return { outcome: 'committed', version: commit.version, commit, results, members: reports };
  }

  /** Commits a change that moves no traffic (promote) and has every member install it. */
  async install(build: (input: CommitInput) => StateCommit): Promise<StateCommit> {
    const commit = await this.#commit([], build);
    const members = new Set(this.#transport.members());
    const key = `install-${commit.version}`;
    const installed = this.#collect(key, members, (m) => m.type === 'released' && m.moveId === null && m.version === commit.version, 10_000);
    this.#send({ type: 'commit', moveId: null, version: commit.version, changes: commit.changes });
    await installed;
    return commit;
  }

  /**
   * Fleet transports: why this move must not commit although every member it waits for prepared. A member counted
   * gone that is live again, or a member that was not asked and is live now, may have caught up with the route log
   * before this commit and forward on the old route (a restarted member does not see a prepare written before it
   * started); and a coordinator whose own lease lapsed may have been counted gone by the others.
   */
  #commitRefusal(asked: ReadonlySet<string>, gone: ReadonlySet<string>): string | null {
    if (this.#transport.isFenced?.() === true) return 'this instance lost its lease during the move';
    const isGone = this.#transport.isGone?.bind(this.#transport);
    if (isGone === undefined) return null;
    const back = [...gone].filter((m) => !isGone(m));
    if (back.length > 0) return `member${back.length > 1 ? 's' : ''} ${back.join(', ')} counted gone during the move ${back.length > 1 ? 'are' : 'is'} live again`;
    const joined = this.#transport.members().filter((m) => !asked.has(m));
    if (joined.length > 0) return `member${joined.length > 1 ? 's' : ''} ${joined.join(', ')} joined during the move`;
    return null;
  }

  async #commit(acks: readonly PreparedMessage[], build: (input: CommitInput) => StateCommit): Promise<StateCommit> {
    const routes = this.#routes;
    const commit = build({ version: routes.version + 1, routes, prepared: acks });
    try {
      await this.#store.commit(routes.version, commit);
    } catch (error) {
      if (error instanceof StaleVersionError || error instanceof StateStoreError) throw error;
      throw new StateStoreError(`cannot persist the new routes, nothing was switched: ${errorMessage(error)}`, { cause: error });
    }
    this.#routes = applyChanges(routes, commit.changes, commit.version);
    this.#onCommitted(commit);
    return commit;
  }

  async #abort(moveId: string, acks: readonly PreparedMessage[], reason: string): Promise<void> {
    const prepared = new Set(acks.map((a) => a.member));
    const aborted = this.#collect(moveId, prepared, (m) => m.type === 'aborted' || m.type === 'prepare-failed', 10_000);
    // Always sent, and to every member, not only those whose prepared was counted: a member whose prepared came
    // after the deadline (or never reached this coordinator) holds too, waiting for a decision, and only this
    // message releases it (a member ignores an abort of a move it does not know). Returning without it when no
    // prepared had arrived left such members holding forever (the simulation's "stuck").
    this.#send({ type: 'abort', moveId, reason });
    await aborted;
  }

  #send(message: CoordinatorMessage, to: string | null = null): void {
    this.#transport.toParticipants(message, to);
  }

  /**
   * Resolves once every member in `expect` sent a message that `accept`s (keyed by move), or counts as gone
   * (transport.isGone; added to `gone`), or after `deadlineMs` with what arrived (callers see who is missing).
   */
  #collect(
    key: string,
    expect: ReadonlySet<string>,
    accept: (m: ParticipantMessage) => boolean,
    deadlineMs?: number,
    gone: Set<string> = new Set(),
  ): Promise<Map<string, ParticipantMessage>> {
    return new Promise((resolve) => {
      const waiting: Waiting = { expect: new Set(expect), gone, replies: new Map(), accept, done: () => undefined };
      const timers: (() => void)[] = [];
      waiting.done = () => {
        for (const cancel of timers) cancel();
        this.#waiting.delete(key);
        resolve(waiting.replies);
      };
      if (expect.size === 0) {
        resolve(waiting.replies);
        return;
      }
      this.#waiting.set(key, waiting);
      if (deadlineMs !== undefined) timers.push(this.#schedule(() => waiting.done(), deadlineMs));
      const isGone = this.#transport.isGone?.bind(this.#transport);
      if (isGone !== undefined) {
        const check = (): void => {
          for (const m of waiting.expect) {
            if (!waiting.replies.has(m) && isGone(m)) {
              waiting.expect.delete(m);
              waiting.gone.add(m);
            }
          }
          if (waiting.replies.size >= waiting.expect.size) waiting.done();
          else timers.push(this.#schedule(check, this.#goneCheckMs));
        };
        timers.push(this.#schedule(check, this.#goneCheckMs));
      }
    });
  }

  #receive(message: ParticipantMessage): void {
    const key = message.moveId ?? (message.type === 'released' ? `install-${message.version}` : null);
    if (key === null) return;
    const waiting = this.#waiting.get(key);
    if (waiting === undefined || !waiting.expect.has(message.member) || !waiting.accept(message)) return;
    waiting.replies.set(message.member, message);
    if (waiting.replies.size >= waiting.expect.size) waiting.done();
  }
}
