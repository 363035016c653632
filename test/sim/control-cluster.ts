// The simulated control cluster: what the fleet keeps in Kafka (NEXT.md §1). Three ordered logs — the move log
// (coordinator → participants), the reply log (participants → coordinators) and the members log (heartbeats) —
// and the route table behind a compare-and-set StateStore (the real MemoryStateStore). A member talks to it
// only by polls over the simulated network (network.ts): a poll appends the member's outbox and its heartbeat,
// and answers with everything appended since the member's cursors plus the committed table version. Appends are
// idempotent per (member, sequence number): a retransmitted outbox is appended once, as Kafka's idempotent
// producer does. Redelivery (a consumer re-reading after a restart) is the member rewinding its cursor.
//
// `truth` is the latest committed route table: the invariants compare every forward and every append with it.

import { applyChanges, emptyRouteState, type RouteAssignment, type RouteChange } from '../../routing/route-state.ts';
import type { CoordinatorMessage, ParticipantMessage } from '../../routing/move-protocol.ts';
import { MemoryStateStore, type StateCommit } from '../../routing/state-store.ts';
import { SwitchTable } from '../../routing/switch-table.ts';
import { MoveDecisions, type MoveDecision } from '../../routing/fleet/move-decisions.ts';
import type { CompiledRules } from '../../routing/rules.ts';

export interface AddressedMessage {
  readonly message: CoordinatorMessage;
  /** One member (incarnation id), or null for every member. */
  readonly to: string | null;
}

export interface Outgoing<T> {
  readonly seq: number;
  readonly item: T;
}

export interface PollRequest {
  readonly member: string;
  readonly moves: readonly Outgoing<AddressedMessage>[];
  readonly replies: readonly Outgoing<ParticipantMessage>[];
  readonly moveCursor: number;
  readonly replyCursor: number;
  readonly heartbeatCursor: number;
}

export interface PollResponse {
  readonly storeVersion: number;
  readonly movesFrom: number;
  readonly moves: readonly AddressedMessage[];
  readonly repliesFrom: number;
  readonly replies: readonly ParticipantMessage[];
  readonly heartbeatsFrom: number;
  readonly heartbeats: readonly string[];
  /** Highest outbox sequence numbers appended for this member (moves, replies). */
  readonly ackedMoves: number;
  readonly ackedReplies: number;
}

export interface CommittedVersion {
  readonly version: number;
  readonly changes: readonly RouteChange[];
  readonly at: number;
  readonly by: string;
  /** The move that committed this version (null: a fence of an orphaned move, or no move). */
  readonly moveId: string | null;
}

export class ControlCluster {
  readonly store = new MemoryStateStore();
  readonly truth: SwitchTable;
  readonly moveLog: AddressedMessage[] = [];
  readonly replyLog: ParticipantMessage[] = [];
  readonly heartbeatLog: string[] = [];
  readonly history: CommittedVersion[] = [];
  readonly #deadTokens = new Set<string>();
  readonly #appended = new Map<string, { moves: number; replies: number }>();
  /** The route log's move decisions, as the Kafka store applies them (routing/fleet/move-decisions.ts). */
  readonly decisions = new MoveDecisions();
  #assignment: RouteAssignment = emptyRouteState();

  constructor(rules: CompiledRules) {
    this.truth = new SwitchTable(rules, emptyRouteState());
  }

  get version(): number {
    return this.#assignment.version;
  }

  get assignment(): RouteAssignment {
    return this.#assignment;
  }

  poll(request: PollRequest): PollResponse {
    const appended = this.#appended.get(request.member) ?? { moves: -1, replies: -1 };
    for (const o of request.moves) {
      if (o.seq > appended.moves) {
        this.moveLog.push(o.item);
        appended.moves = o.seq;
      }
    }
    for (const o of request.replies) {
      if (o.seq > appended.replies) {
        this.replyLog.push(o.item);
        appended.replies = o.seq;
      }
    }
    this.#appended.set(request.member, appended);
    this.heartbeatLog.push(request.member);
    return {
      storeVersion: this.version,
      movesFrom: request.moveCursor,
      moves: this.moveLog.slice(request.moveCursor),
      repliesFrom: request.replyCursor,
      replies: this.replyLog.slice(request.replyCursor),
      heartbeatsFrom: request.heartbeatCursor,
      heartbeats: this.heartbeatLog.slice(request.heartbeatCursor),
      ackedMoves: appended.moves,
      ackedReplies: appended.replies,
    };
  }

  /** Where a (re)started member starts reading the move log: at the oldest prepare without a decision yet. */
  startCursor(): number {
    const decided = new Set<string>();
    for (const { message } of this.moveLog) if (message.type !== 'prepare' && message.moveId !== null) decided.add(message.moveId);
    const i = this.moveLog.findIndex(({ message }) => message.type === 'prepare' && !decided.has(message.moveId));
    return i === -1 ? this.moveLog.length : i;
  }

  /**
   * The compare-and-set commit, at the moment the request reaches the control cluster. `token` names the attempt:
   * a coordinator that lost the answer reads back (readBack), which also fences a request still on the wire.
   */
  commitNow(expectedVersion: number, next: StateCommit, token: string, now: number, moveId: string | null = null): 'ok' | 'stale' | 'fenced' {
    if (this.#deadTokens.has(token)) return 'fenced';
    const move = next.moveId ?? moveId;
    if (!this.decisions.commitApplies(move)) return 'stale'; // a member aborted the move first
    if (expectedVersion !== this.version || next.version !== expectedVersion + 1) return 'stale';
    void this.store.commit(expectedVersion, next); // the real CAS; it checks synchronously and cannot fail here
    this.#assignment = applyChanges(this.#assignment, next.changes, next.version);
    this.truth.swap(this.#assignment);
    this.history.push({ version: next.version, changes: next.changes, at: now, by: token, moveId: move });
    if (move !== null && move !== undefined) this.decisions.noteCommit(move, { version: next.version, changes: next.changes });
    return 'ok';
  }

  /** A member's abort record for a move whose coordinator is gone: the log's first decision for it wins. */
  abortMove(moveId: string): MoveDecision {
    return this.decisions.noteAbort(moveId);
  }

  /** Did the commit attempt `token` land? If not, it never will (a late request is refused). */
  readBack(token: string): boolean {
    if (this.history.some((h) => h.by === token)) return true;
    this.#deadTokens.add(token);
    return false;
  }

  /** The committed routes as of `version` (a member seeding its generations replays from there). */
  assignmentAt(version: number): RouteAssignment {
    let a: RouteAssignment = emptyRouteState();
    for (const h of this.history) {
      if (h.version > version) break;
      a = applyChanges(a, h.changes, h.version);
    }
    return a;
  }

  /** The committed changes of `version` (members catching up read them from the log). */
  changesOf(version: number): readonly RouteChange[] {
    const entry = this.history[version - 1];
    if (entry === undefined || entry.version !== version) throw new Error(`no committed version ${version}`);
    return entry.changes;
  }
}
