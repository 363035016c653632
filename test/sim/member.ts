// One simulated fleet member (a kmp instance): the REAL SwitchTable, CutoverBarrier, MoveParticipant and
// MoveCoordinator, wired to the simulated clock and network, plus what the fleet runtime adds around them. The
// in-process code has no notion of leases yet, so the lease and fencing rules live here, using the real
// routing/fleet/leases.ts (this is the runtime's job, NEXT.md §1; the rules below are what it must do):
//
// - Heartbeat = every poll of the control cluster. A poll appends the member's outbox and heartbeat and reads the
//   move log, the reply log and the members log to their end. OwnLease.renewed(sentAt) once the answer is back.
// - Fenced (rejects every Produce with a retriable error) while the own lease is older than lease − skew, or while
//   the table is behind the version read at the last renewal ("read the log to its end"). Checked at admission
//   AND again right before the write is sent (a held admission can be released long after it was admitted).
// - Catch-up: versions committed without this member's participation are installed from the route log, in
//   version order, before a commit message that skips versions.
// - Coordinator side (any member can coordinate a flip): the transport is what src/fleet/kafka-move-transport.ts
//   is — members() = the live members of the LeaseTable on this member's clock, isGone = not live (lease + skew
//   without a heartbeat), isFenced = the own lease rule — and everything else is the REAL coordinator's: it stops
//   waiting for a gone member, aborts at its deadline (timeoutMs + grace) when a live member is silent, and refuses
//   to commit when a member counted gone is live again, a member it did not ask joined, or its own lease lapsed.
//   A flip is refused at once while this member is fenced (as the admin API of a fenced instance does).
// - A (re)started member starts with a new incarnation id, fenced, reading the move log from its oldest
//   undecided prepare.
// - An orphaned move (its prepare read, no decision, its coordinator gone, or silent past its own bound) is resolved
//   by the runtime's OrphanResolver (routing/fleet/orphan-resolver.ts): an abort record in the route log unless the
//   move's commit landed first (routing/fleet/move-decisions.ts), then that decision delivered locally. Without
//   it, a coordinator that dies between prepare and decision leaves every member holding forever.
// - The Produce path has the runtime's two newer rules: a topic whose move's prepare was read but is not held yet
//   (or failed here, decision to come) is refused (participant.blocks); and for a while after a route change a
//   batch on the new route is checked against the old cluster's appended writes (routing/fleet/new-route-guard.ts,
//   the simulated DescribeProducers), so a retry of a write a gone member appended is answered, not re-appended.

import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { Admission, CompletionOutcome } from '../../routing/barrier-contract.ts';
import { isRejection } from '../../routing/barrier-contract.ts';
import { otherCluster, type Cluster } from '../../routing/cluster.ts';
import { MoveCoordinator, type CommitInput } from '../../routing/coordinator.ts';
import { CutoverBarrier } from '../../routing/cutover-barrier.ts';
import { RouteConflictError, StaleVersionError, StateStoreError, errorMessage } from '../../routing/errors.ts';
import { LeaseTable, OwnLease } from '../../routing/fleet/leases.ts';
import { NewRouteGuard, type NewRouteVerdict, type OldPartitionState } from '../../routing/fleet/new-route-guard.ts';
import type { MoveDecision } from '../../routing/fleet/move-decisions.ts';
import { OrphanResolver } from '../../routing/fleet/orphan-resolver.ts';
import type { CoordinatorMessage, MoveTransport, ParticipantMessage } from '../../routing/move-protocol.ts';
import { MoveParticipant } from '../../routing/participant.ts';
import { applyChanges, emptyRouteState, type RouteAssignment, type RouteChange } from '../../routing/route-state.ts';
import type { CompiledRules } from '../../routing/rules.ts';
import type { StateCommit, StateStore } from '../../routing/state-store.ts';
import { SwitchTable } from '../../routing/switch-table.ts';
import type { AddressedMessage, ControlCluster, Outgoing, PollResponse } from './control-cluster.ts';
import type { DataClusters } from './data-clusters.ts';
import type { Network } from './network.ts';
import type { Rng, Scheduler } from './scheduler.ts';

export interface FleetRules {
  readonly leaseMs: number;
  readonly skewMarginMs: number;
  readonly pollMs: number;
  readonly drainTimeoutMs: number;
  /**
   * A member holding for a move whose coordinator is live but silent resolves it itself after lease + skew + this
   * (the coordinator's own bound is drainTimeoutMs + 1 s grace, routing/coordinator.ts, so it no longer waits).
   */
  readonly flipTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly storeTimeoutMs: number;
  readonly clusterErrorRate: number;
  readonly redeliveryRate: number;
  /** The rules under test; a test turns one off to show the checker catches what it prevents. */
  readonly fenceOnLease: boolean;
  readonly checkFenceBeforeSend: boolean;
  /** The new route's check against the old cluster's producer state (routing/fleet/new-route-guard.ts). */
  readonly newRouteGuard: boolean;
  /** Its window after a route change: at least the clients' delivery timeout. */
  readonly newRouteWindowMs: number;
}

export interface World {
  readonly sched: Scheduler;
  readonly rng: Rng;
  readonly net: Network;
  readonly control: ControlCluster;
  readonly data: DataClusters;
  readonly rules: CompiledRules;
  readonly fleet: FleetRules;
  readonly waves: ReadonlyMap<string, readonly string[]>;
  readonly partitions: number;
  nextMoveId(): string;
  /** Invariant hooks (world.ts). */
  onForward(member: SimMember, topic: string, partition: number, cluster: Cluster): void;
  onAppend(topic: string, partition: number, cluster: Cluster, writeId: number): void;
  fail(kind: string, detail: string): void;
  readonly stats: Record<string, number>;
}

export type ProduceOutcome = 'ok' | 'retriable';

export interface Write {
  readonly id: number;
  readonly topic: string;
  readonly partition: number;
}

interface Expectation {
  phase: 'prepare' | 'commit' | 'abort' | 'install';
  readonly members: Set<string>;
  readonly replied: Set<string>;
  readonly startedAt: number;
}

export class SimMember {
  readonly name: string;
  readonly id: string;
  readonly table: SwitchTable;
  readonly barrier: CutoverBarrier;
  readonly participant: MoveParticipant;
  readonly coordinator: MoveCoordinator;
  readonly #w: World;
  readonly #rate: number;
  readonly #leases: LeaseTable;
  readonly #own: OwnLease;
  readonly #outMoves: Outgoing<AddressedMessage>[] = [];
  readonly #outReplies: Outgoing<ParticipantMessage>[] = [];
  readonly #expect = new Map<string, Expectation>();
  #seq = 0;
  #moveCursor: number;
  #replyCursor: number;
  #heartbeatCursor: number;
  #renewedVersion = 0;
  #coordinatorHandler: (message: ParticipantMessage) => void = () => undefined;
  #lastMembers: readonly string[] = [];
  /** Resolves moves whose coordinator died mid-move (the runtime's, routing/fleet/orphan-resolver.ts). */
  readonly orphans: OrphanResolver;
  readonly #moveOfCommit = new WeakMap<StateCommit, string>();
  #lastMoveId: string | null = null;
  readonly newRoute: NewRouteGuard<Write>;
  /** Generations are seeded up to this version (whichever way a version was installed: move, log, commit message). */
  #seededVersion = 0;

  constructor(world: World, name: string, incarnation: number, clockRate: number) {
    this.#w = world;
    this.name = name;
    this.id = `${name}#${incarnation}`;
    this.#rate = clockRate;
    const lease = { leaseMs: world.fleet.leaseMs, skewMarginMs: world.fleet.skewMarginMs };
    this.#leases = new LeaseTable(lease);
    this.#own = new OwnLease(lease);
    // A (re)started member loads the committed routes, and reads the logs from where it must (see the header).
    this.table = new SwitchTable(world.rules, world.control.assignment);
    this.#moveCursor = world.control.startCursor();
    this.#replyCursor = world.control.replyLog.length;
    this.#heartbeatCursor = Math.max(0, world.control.heartbeatLog.length - 1000);
    this.barrier = new CutoverBarrier({
      routeOf: (topic) => this.table.resolve(topic).cluster,
      now: () => this.local(),
      schedule: world.sched.timer(this.id),
      quarantineMs: 250,
    });
    // Generations as the runtime has them: the table version of each topic's last move (seeded from the ledger
    // at start; after that from every version installed, moved here or read from the route log).
    this.#seedGenerations();
    this.newRoute = new NewRouteGuard<Write>({
      windowMs: world.fleet.newRouteWindowMs,
      loadTimeoutMs: world.fleet.requestTimeoutMs,
      giveUpAfterMs: world.fleet.newRouteWindowMs,
      now: () => this.local(),
      load: (topic, partition, oldCluster) => this.#describeProducers(topic, partition, oldCluster),
    });
    this.orphans = new OrphanResolver({
      self: this.id,
      now: () => this.local(),
      isLive: (member) => this.#leases.isLive(member, this.local()),
      leaseMs: world.fleet.leaseMs,
      skewMarginMs: world.fleet.skewMarginMs,
      abortMove: (moveId) => this.#abortMove(moveId),
      deliver: (message) => {
        world.stats[message.type === 'commit' ? 'orphansCommitted' : 'orphansAborted'] = (world.stats[message.type === 'commit' ? 'orphansCommitted' : 'orphansAborted'] ?? 0) + 1;
        this.#deliver(message);
      },
    });
    this.participant = new MoveParticipant({
      member: this.id,
      table: this.table,
      barrier: this.barrier,
      send: (message) => {
        this.#outReplies.push({ seq: this.#seq++, item: message });
      },
      onFirstOffset: () => undefined,
    });
    this.coordinator = new MoveCoordinator({
      store: this.#store(),
      transport: this.#transport(),
      routes: world.control.assignment,
      onCommitted: () => undefined,
      // The coordinator's incarnation in the id: members resolve a move whose coordinator is gone (see the header).
      newMoveId: () => (this.#lastMoveId = `${this.id}:${world.nextMoveId()}`),
      schedule: world.sched.timer(this.id),
    });
    world.sched.after(this.id, world.rng.int(0, world.fleet.pollMs), () => this.#poll());
  }

  /** This member's monotonic clock: its own rate (drift), never the true time. */
  local(): number {
    return this.#w.sched.now * this.#rate;
  }

  fenced(): boolean {
    if (!this.#w.fleet.fenceOnLease) return false;
    return this.#own.isFenced(this.local()) || this.table.version < this.#renewedVersion;
  }

  /** What this member's coordinator still waits for (the report of a hung flip). */
  waitingFor(): string[] {
    return [...this.#expect].flatMap(([key, e]) => {
      const missing = [...e.members].filter((m) => !e.replied.has(m));
      return missing.length === 0 ? [] : [`${this.id} ${key} ${e.phase}: ${missing.join(', ')}`];
    });
  }

  // ── the Produce path ──────────────────────────────────────────────────────────────────────────────────────

  /** A client's Produce for one partition arrives (runs as this member). */
  produce(write: Write, reply: (outcome: ProduceOutcome) => void): void {
    this.#seedGenerations(); // the runtime seeds on every commit it reads (routing/control-plane.ts): before any use
    if (this.fenced()) {
      this.#w.stats.fencedRejections = (this.#w.stats.fencedRejections ?? 0) + 1;
      reply('retriable');
      return;
    }
    // A prepare read but not holding yet, or failed here with its decision still to come (participant.blocks).
    if (this.participant.blocks(write.topic)) {
      this.#w.stats.blockedByPrepare = (this.#w.stats.blockedByPrepare ?? 0) + 1;
      reply('retriable');
      return;
    }
    // The runtime's ProduceConcern.refuse: before admission, on the route as it is now.
    const verdict = this.#newRouteVerdict(write, { cluster: this.table.resolve(write.topic).cluster, generation: this.barrier.generationOf(write.topic) });
    if (verdict !== 'forward') {
      reply(verdict === 'duplicate' ? 'ok' : 'retriable');
      return;
    }
    let admission: Admission | Promise<Admission>;
    try {
      admission = this.barrier.admit(write.topic, write.partition);
    } catch (error) {
      this.#w.fail('threw', `${this.id} admit: ${errorMessage(error)}`);
      return;
    }
    if (admission instanceof Promise) void admission.then((a) => this.#forward(write, a, reply, true));
    else this.#forward(write, admission, reply, false);
  }

  #newRouteVerdict(write: Write, route: { cluster: Cluster; generation: number }): NewRouteVerdict {
    if (!this.#w.fleet.newRouteGuard) return 'forward';
    const verdict = this.newRoute.check(write.topic, write.partition, route, write);
    if (verdict !== 'forward') this.#w.stats[`newRoute-${verdict}`] = (this.#w.stats[`newRoute-${verdict}`] ?? 0) + 1;
    return verdict;
  }

  #forward(write: Write, admission: Admission, reply: (outcome: ProduceOutcome) => void, waited: boolean): void {
    const w = this.#w;
    if (w.sched.isCrashed(this.id)) return;
    if (isRejection(admission)) {
      reply('retriable');
      return;
    }
    if (w.fleet.checkFenceBeforeSend && this.fenced()) {
      this.barrier.abandon(admission);
      w.stats.fencedRejections = (w.stats.fencedRejections ?? 0) + 1;
      reply('retriable');
      return;
    }
    // And right before sending (the runtime's refuseBeforeSend): a write held by a move that aborted is released
    // onto the old route, but a prepare read meanwhile (in the same poll) may already cover its topic.
    if (this.participant.blocks(write.topic)) {
      this.barrier.abandon(admission);
      w.stats.blockedByPrepare = (w.stats.blockedByPrepare ?? 0) + 1;
      reply('retriable');
      return;
    }
    // The runtime's refuseBeforeSend (src/fleet/new-route-concern.ts): a held write may have been released onto
    // the new route. As there, anything but 'forward' is a retriable error: the client's resend is checked anew.
    if (waited && this.#newRouteVerdict(write, { cluster: admission.cluster, generation: admission.generation }) !== 'forward') {
      this.barrier.abandon(admission);
      reply('retriable');
      return;
    }
    const cluster = admission.cluster;
    const version = this.table.version;
    w.onForward(this, write.topic, write.partition, cluster);
    let settled = false;
    const settle = (outcome: CompletionOutcome): void => {
      if (settled) return;
      settled = true;
      this.barrier.complete(admission, outcome);
      reply(outcome.ok ? 'ok' : 'retriable');
    };
    w.sched.after(cluster, w.net.dataLatency(), () => {
      let outcome: CompletionOutcome;
      if (w.rng.chance(w.fleet.clusterErrorRate)) {
        outcome = { ok: false, retriable: true, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, written: 'no' };
      } else {
        const { offset } = w.data.append(cluster, write.topic, write.partition, write.id, w.sched.now, this.id, version);
        w.onAppend(write.topic, write.partition, cluster, write.id);
        outcome = { ok: true, baseOffset: offset };
      }
      if (w.net.dataResponseLost()) return; // the member's request timeout answers: outcome unknown
      w.sched.after(this.id, w.net.dataLatency(), () => settle(outcome));
    });
    w.sched.after(this.id, w.fleet.requestTimeoutMs, () =>
      settle({ ok: false, retriable: true, errorCode: ErrorCode.REQUEST_TIMED_OUT, written: 'unknown' }),
    );
  }

  // ── the operator: a flip through this member's coordinator ────────────────────────────────────────────────

  async flip(wave: string): Promise<string> {
    const w = this.#w;
    if (this.fenced()) return 'refused (fenced)';
    if (this.table.version > this.coordinator.routes.version) this.coordinator.adopt(this.table.snapshot.assignment());
    const before = this.coordinator.routes.batches.get(wave) ?? 'source';
    const from: Cluster = before === 'target' ? 'target' : 'source';
    const to = otherCluster(from);
    const changes: RouteChange[] = [{ kind: 'batch', name: wave, before, after: to }];
    const topics = w.waves.get(wave) ?? [];
    const partitions = [...Array(w.partitions).keys()];
    const build = (input: CommitInput): StateCommit => {
      const now = input.routes.batches.get(wave) ?? 'source';
      if (now !== before) throw new RouteConflictError(`${wave} changed during the move`);
      const commit: StateCommit = { version: input.version, changes, audit: [], ledger: [] };
      if (moveId !== null) this.#moveOfCommit.set(commit, moveId);
      return commit;
    };
    let moveId: string | null = null;
    try {
      const moving = this.coordinator.move(
        {
          label: `flip of ${wave} by ${this.id}`,
          changes,
          from,
          to,
          topics,
          holdMatching: false,
          partitions: topics.map((topic) => ({ topic, partitions })),
          timeoutMs: w.fleet.drainTimeoutMs,
          maxHeldRequests: 200,
          inDoubt: 'abort',
        },
        build,
      );
      moveId = this.#lastMoveId;
      return (await moving).outcome;
    } catch (error) {
      return `error: ${errorMessage(error)}`;
    }
  }

  // ── the control plane: polls, catch-up, the coordinator's transport and store ─────────────────────────────

  #poll(): void {
    const w = this.#w;
    w.sched.after(this.id, w.fleet.pollMs, () => this.#poll());
    // Redelivery: like a consumer restarted from an older committed offset, re-read a few messages.
    if (w.rng.chance(w.fleet.redeliveryRate)) {
      this.#moveCursor = Math.max(0, this.#moveCursor - w.rng.int(1, 3));
      this.#replyCursor = Math.max(0, this.#replyCursor - w.rng.int(1, 3));
      w.stats.redeliveries = (w.stats.redeliveries ?? 0) + 1;
    }
    const sentAt = this.local();
    const request = {
      member: this.id,
      moves: [...this.#outMoves],
      replies: [...this.#outReplies],
      moveCursor: this.#moveCursor,
      replyCursor: this.#replyCursor,
      heartbeatCursor: this.#heartbeatCursor,
    };
    w.net.toControl(this.name, this.id, () => w.control.poll(request), (response) => this.#onPoll(response, sentAt));
  }

  #onPoll(r: PollResponse, sentAt: number): void {
    const w = this.#w;
    dropAcked(this.#outMoves, r.ackedMoves);
    dropAcked(this.#outReplies, r.ackedReplies);
    r.moves.forEach((m, i) => {
      const index = r.movesFrom + i;
      if (index < this.#moveCursor) return;
      this.#moveCursor = index + 1;
      const moveId = m.message.moveId;
      if (moveId !== null) this.orphans.seen(moveId.slice(0, moveId.indexOf(':')), m.message);
      if (m.to === null || m.to === this.id) this.#deliver(m.message);
    });
    r.replies.forEach((m, i) => {
      const index = r.repliesFrom + i;
      if (index < this.#replyCursor) return;
      this.#replyCursor = index + 1;
      this.#coordinatorReceive(m);
    });
    const now = this.local();
    r.heartbeats.forEach((member, i) => {
      const index = r.heartbeatsFrom + i;
      if (index < this.#heartbeatCursor) return;
      this.#heartbeatCursor = index + 1;
      this.#leases.heard(member, now);
    });
    this.#catchUp(r.storeVersion, false);
    this.#own.renewed(sentAt);
    this.#renewedVersion = Math.max(this.#renewedVersion, r.storeVersion);
    this.#checkExpectations();
    this.orphans.tick();
    void w;
  }

  /** StateStore.abortMove over the simulated network: the route log's decision, or a rejection if no answer. */
  #abortMove(moveId: string): Promise<MoveDecision> {
    const w = this.#w;
    return new Promise((resolve, reject) => {
      w.net.toControl(this.name, this.id, () => w.control.abortMove(moveId), resolve);
      w.sched.after(this.id, w.fleet.storeTimeoutMs, () => reject(new Error('no answer from the control cluster')));
    });
  }

  /** Installs committed versions up to `version` from the route log. */
  #catchUp(version: number, evenWhileMoving: boolean): void {
    if (!evenWhileMoving && this.barrier.activeMoves().length > 0) return;
    while (this.table.version < version) {
      const v = this.table.version + 1;
      try {
        this.participant.install(v, this.#w.control.changesOf(v));
      } catch (error) {
        this.#w.fail('threw', `${this.id} install ${v}: ${errorMessage(error)}`);
        return;
      }

      this.#w.stats.catchUpInstalls = (this.#w.stats.catchUpInstalls ?? 0) + 1;
    }
  }

  /**
   * The runtime seeds generations from the ledger (routing/control-plane.ts: at start, and from every commit read
   * from the route log): a topic's generation is the version of its last move, on every member alike.
   */
  #seedGenerations(): void {
    const fromVersion = this.#seededVersion;
    if (fromVersion >= this.table.version) return;
    this.#seededVersion = this.table.version;
    const history = this.#w.control.history;
    const topics = [...this.#w.waves.values()].flat();
    let assignment: RouteAssignment = fromVersion === 0 ? emptyRouteState() : this.#w.control.assignmentAt(fromVersion);
    for (let v = fromVersion + 1; v <= this.table.version; v++) {
      const before = this.table.preview(assignment);
      const entry = history[v - 1];
      if (entry === undefined) break;
      assignment = applyChanges(assignment, entry.changes, v);
      const after = this.table.preview(assignment);
      for (const t of topics) if (before.resolve(t).cluster !== after.resolve(t).cluster) this.barrier.seedGeneration(t, v);
    }
  }

  /** The simulated DescribeProducers: one round trip to the old cluster, which may fail or not answer. */
  #describeProducers(topic: string, partition: number, oldCluster: Cluster): Promise<OldPartitionState<Write>> {
    const w = this.#w;
    return new Promise((resolve, reject) => {
      w.sched.after(oldCluster, w.net.dataLatency(), () => {
        if (w.rng.chance(w.fleet.clusterErrorRate)) {
          w.sched.after(this.id, w.net.dataLatency(), () => reject(new Error('NOT_LEADER_OR_FOLLOWER')));
          return;
        }
        const ids = w.data.appendedIds(oldCluster, topic, partition);
        if (w.net.dataResponseLost()) return; // never answers: the guard's load timeout starts another
        w.sched.after(this.id, w.net.dataLatency(), () => resolve({ has: (write) => ids.has(write.id) }));
      });
    });
  }

  #deliver(message: CoordinatorMessage): void {
    if (message.type === 'commit' && message.version > this.table.version + 1) this.#catchUp(message.version - 1, true);
    try {
      this.participant.handle(message);
    } catch (error) {
      this.#w.fail('threw', `${this.id} handling ${message.type} (version ${message.type === 'commit' ? message.version : '-'}, table ${this.table.version}): ${errorMessage(error)}`);
    }
  }

  #transport(): MoveTransport {
    return {
      members: () => {
        this.#lastMembers = this.#leases.live(this.local());
        return this.#lastMembers;
      },
      isGone: (member) => !this.#leases.isLive(member, this.local()),
      isFenced: () => this.#w.fleet.fenceOnLease && this.#own.isFenced(this.local()),
      toParticipants: (message, to = null) => {
        this.#outMoves.push({ seq: this.#seq++, item: { message, to } });
        this.#track(message, to);
      },
      onParticipantMessage: (handler) => {
        this.#coordinatorHandler = handler;
      },
    };
  }

  /** What the coordinator now waits for, so a gone or silent member can be answered for. */
  #track(message: CoordinatorMessage, to: string | null): void {
    const startedAt = this.local();
    if (message.type === 'prepare') {
      this.#expect.set(message.moveId, { phase: 'prepare', members: new Set(this.#lastMembers), replied: new Set(), startedAt });
    } else if (message.type === 'commit' && message.moveId === null) {
      this.#expect.set(`install-${message.version}`, { phase: 'install', members: new Set(this.#lastMembers), replied: new Set(), startedAt });
    } else if (message.type === 'commit' && message.moveId !== null) {
      const e = this.#expect.get(message.moveId);
      if (e !== undefined) this.#expect.set(message.moveId, { phase: 'commit', members: e.members, replied: new Set(), startedAt });
    } else if (message.type === 'abort') {
      const e = this.#expect.get(message.moveId);
      const members = to === null ? new Set(e?.members ?? []) : new Set([to]);
      if (e !== undefined && e.phase !== 'abort') this.#expect.set(message.moveId, { phase: 'abort', members, replied: new Set(), startedAt });
      else if (to !== null) e?.members.add(to);
    }
  }

  #coordinatorReceive(m: ParticipantMessage): void {
    const key = m.moveId ?? (m.type === 'released' ? `install-${m.version}` : null);
    const e = key === null ? undefined : this.#expect.get(key);
    if (e !== undefined && e.members.has(m.member) && answers(e.phase, m)) e.replied.add(m.member);
    this.#coordinatorHandler(m);
  }

  /** Forgets what a finished wait expected (the hung-flip report lists only what is still missing). */
  #checkExpectations(): void {
    const now = this.local();
    for (const [key, e] of this.#expect) {
      const missing = [...e.members].filter((m) => !e.replied.has(m) && this.#leases.isLive(m, now));
      const stale = now - e.startedAt > this.#w.fleet.flipTimeoutMs + 10_000;
      if (missing.length === 0 || stale) this.#expect.delete(key);
    }
  }

  /** The route store as this member reaches it: over the network, with read-back when an answer is lost. */
  #store(): StateStore {
    const w = this.#w;
    const base = w.control.store;
    return {
      load: () => base.load(),
      appendAudit: () => Promise.resolve(),
      recordFirstOffsets: () => Promise.resolve(),
      appendProducerMapping: () => Promise.resolve(),
      loadProducerMappings: () => base.loadProducerMappings(),
      subscribe: () => () => undefined,
      close: () => Promise.resolve(),
      commit: (expectedVersion, next) =>
        new Promise<void>((resolve, reject) => {
          const token = `${this.id}/commit-${this.#seq++}`;
          let answered = false;
          const answer = (result: 'ok' | 'stale' | 'fenced'): void => {
            if (answered) return;
            answered = true;
            if (result === 'ok') resolve();
            else if (result === 'stale') reject(new StaleVersionError(`version ${expectedVersion} is stale`, expectedVersion, w.control.version));
            else reject(new StateStoreError('the commit did not land'));
          };
          const moveId = this.#moveOfCommit.get(next) ?? null;
          w.net.toControl(this.name, this.id, () => w.control.commitNow(expectedVersion, next, token, w.sched.now, moveId), answer);
          const readBack = (): void => {
            if (answered) return;
            w.stats.storeReadBacks = (w.stats.storeReadBacks ?? 0) + 1;
            w.net.toControl(this.name, this.id, () => w.control.readBack(token), (landed) => answer(landed ? 'ok' : 'fenced'));
            w.sched.after(this.id, w.fleet.storeTimeoutMs, readBack);
          };
          w.sched.after(this.id, w.fleet.storeTimeoutMs, readBack);
        }),
    };
  }
}

function dropAcked<T>(outbox: Outgoing<T>[], acked: number): void {
  while (outbox.length > 0 && (outbox[0] as Outgoing<T>).seq <= acked) outbox.shift();
}

function answers(phase: Expectation['phase'], m: ParticipantMessage): boolean {
  if (phase === 'prepare') return m.type === 'prepared' || m.type === 'prepare-failed';
  if (phase === 'abort') return m.type === 'aborted' || m.type === 'prepare-failed';
  return m.type === 'released';
}
