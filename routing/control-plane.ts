// The control plane: one object that the admin API (src/) calls for every route operation. It wires together
// the pieces of one instance:
// - the switch table (where topics go) and the cutover barrier (how traffic moves without interleaving writes),
//   both owned by this instance's participant of the move protocol (participant.ts);
// - the coordinator (coordinator.ts), which decides and commits moves to the state store (compare-and-set),
//   connected to the participant by an in-process transport today (move-protocol.ts explains the messages);
// - the history: audit log (audit-log.ts) and ledger (ledger.ts), in memory with paged reads;
// - the write pipeline (write-pipeline.ts): validate, claim, plan, pre-flight, move, record;
// - the store subscription: a change committed by another writer reaches this table and history.

import { randomUUID } from 'node:crypto';
import { clusterOf } from './cluster.ts';
import { AuditLog, type Page, type PageQuery } from './audit-log.ts';
import { MoveCoordinator } from './coordinator.ts';
import { CutoverBarrier, type AfterDrain } from './cutover-barrier.ts';
import { UnavailableError, ValidationError } from './errors.ts';
import { InProcessTransport } from './in-process-transport.ts';
import { Ledger, type LedgerQuery } from './ledger.ts';
import { MoveErrorWatch } from './move-errors.ts';
import {
  allOperation,
  batchOperation,
  checkTopicName,
  topicOperation,
  type ControlPlaneHooks,
  type OperationResult,
  type RoutesView,
  type WriteOptions,
} from './operations.ts';
import { MoveParticipant } from './participant.ts';
import type { CoordinatorMessage, MoveTransport, ParticipantMessage } from './move-protocol.ts';
import { applyChanges, emptyRouteState, type AuditEntry, type LedgerEntry, type RouteState } from './route-state.ts';
import { CompiledRules, compileRules } from './rules.ts';
import { SnapshotStoreAdapter } from './snapshot-store-adapter.ts';
import { isStateStore, type FirstOffsetUpdate, type SnapshotStateStore, type StateStore, type StoreEvent } from './state-store.ts';
import { SwitchTable, type Resolution } from './switch-table.ts';
import { WritePipeline } from './write-pipeline.ts';

export type { ControlPlaneHooks, OperationResult, PreflightResult, RoutesView, WriteOptions } from './operations.ts';
export type { Page, PageQuery } from './audit-log.ts';
export type { LedgerQuery } from './ledger.ts';

export interface ControlPlaneOptions {
  /** The `routes` config section (validated here), or rules already compiled. */
  readonly rules: unknown;
  /** The state store; a store of the old { load, save } shape is wrapped (it re-saves everything per write). */
  readonly store: StateStore | SnapshotStateStore;
  readonly hooks?: ControlPlaneHooks;
  /** Drain bound of a move. Default 10 000 ms. */
  readonly flipTimeoutMs?: number;
  /** Held admissions per move before rejecting. Default 10 000. */
  readonly maxHeldRequests?: number;
  /** Barrier quarantine after a failed drain, see cutover-barrier.ts. Default 250 ms. */
  readonly quarantineMs?: number;
  /** Barrier window for failures before a hold, see cutover-barrier.ts. Default 120 000 ms. */
  readonly unresolvedWindowMs?: number;
  /** Coalescing delay for saving ledger first-offset updates. Default 200 ms. */
  readonly ledgerSaveDelayMs?: number;
  /** Wall clock for audit/ledger timestamps. Default `() => new Date()`. */
  readonly wallClock?: () => Date;
  /** Monotonic ms for durations (passed to the barrier). Default performance.now. */
  readonly now?: () => number;
  /** This instance's name in the move protocol. Default a random id. */
  readonly member?: string;
  /** Bound of the warm-up before a move's hold (hooks.warmUp). Default: the move's drain bound. */
  readonly warmUpTimeoutMs?: number;
  /** A drain step after the barrier's own (write-back's copy tail on a rollback); see move-spec.ts AfterDrain. */
  readonly afterDrain?: AfterDrain;
  /**
   * How moves reach the members (a fleet: the move log, src/fleet/kafka-move-transport.ts). Default an
   * in-process transport with this instance as the only member.
   */
  readonly transport?: JoinableTransport;
}

/** A transport this instance's participant joins. */
export interface JoinableTransport extends MoveTransport {
  join(member: string, handler: (message: CoordinatorMessage) => void): (message: ParticipantMessage) => void;
}

export class ControlPlane {
  readonly rules: CompiledRules;
  readonly table: SwitchTable;
  /** The data path's entry point: admit/complete/abandon per partition (see barrier-contract.ts). */
  readonly barrier: CutoverBarrier;
  /** The data path reports every partition error it answers here (observe); each move counts those of its topics. */
  readonly moveErrors = new MoveErrorWatch();
  /** Problems found at start-up (e.g. state for batches the config no longer declares). */
  readonly warnings: readonly string[];
  readonly #store: StateStore;
  readonly #auditLog: AuditLog;
  readonly #ledger: Ledger;
  readonly #coordinator: MoveCoordinator;
  readonly #participant: MoveParticipant;
  readonly #pipeline: WritePipeline;
  readonly #ledgerSaveDelayMs: number;
  readonly #wallClock: () => Date;
  readonly #unsubscribe: () => void;
  #pendingFirstOffsets: FirstOffsetUpdate[] = [];
  #ledgerTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(rules: CompiledRules, state: RouteState, store: StateStore, options: ControlPlaneOptions) {
    this.rules = rules;
    this.#store = store;
    const flipTimeoutMs = options.flipTimeoutMs ?? 10_000;
    const maxHeldRequests = options.maxHeldRequests ?? 10_000;
    this.#ledgerSaveDelayMs = options.ledgerSaveDelayMs ?? 200;
    if (!(Number.isFinite(flipTimeoutMs) && flipTimeoutMs > 0)) {
      throw new ValidationError(`flipTimeoutMs: must be a positive number of milliseconds, got ${flipTimeoutMs}`);
    }
    if (!(Number.isInteger(maxHeldRequests) && maxHeldRequests >= 0)) {
      throw new ValidationError(`maxHeldRequests: must be an integer >= 0, got ${maxHeldRequests}`);
    }
    this.table = new SwitchTable(rules, state);
    const table = this.table;
    this.barrier = new CutoverBarrier({
      routeOf: (topic) => table.resolve(topic).cluster,
      ...(options.quarantineMs !== undefined ? { quarantineMs: options.quarantineMs } : {}),
      ...(options.unresolvedWindowMs !== undefined ? { unresolvedWindowMs: options.unresolvedWindowMs } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
      ...(options.afterDrain !== undefined ? { afterDrain: options.afterDrain } : {}),
    });
    this.#auditLog = new AuditLog(state.audit);
    this.#ledger = new Ledger(state.ledger.map((e) => ({ ...e })));
    // Generations survive a restart: a moved topic's generation is the version of its last move (see the barrier).
    for (const e of state.ledger) this.barrier.seedGeneration(e.topic, e.version);

    const transport: JoinableTransport = options.transport ?? new InProcessTransport();
    const member = options.member ?? `kmp-${randomUUID()}`;
    this.#participant = new MoveParticipant({
      member,
      table,
      barrier: this.barrier,
      send: transport.join(member, (m) => this.#participant.handle(m)),
      onFirstOffset: (version, topic, partition, offset) => {
        if (this.#ledger.setFirstOffset(version, topic, partition, offset)) this.#saveFirstOffsetSoon({ version, topic, partition, offset });
      },
      errors: this.moveErrors,
      ...(options.hooks?.warmUp !== undefined ? { warmUp: options.hooks.warmUp } : {}),
      ...(options.warmUpTimeoutMs !== undefined ? { warmUpTimeoutMs: options.warmUpTimeoutMs } : {}),
      ...(options.hooks?.beforeHold !== undefined ? { beforeHold: options.hooks.beforeHold } : {}),
    });
    this.#coordinator = new MoveCoordinator({
      store,
      transport,
      routes: { version: state.version, batches: state.batches, topics: state.topics },
      onCommitted: (commit) => {
        for (const entry of commit.audit) this.#auditLog.append(entry);
        this.#ledger.add(commit.ledger.map((e) => ({ ...e })));
      },
    });
    const wallClock = options.wallClock ?? (() => new Date());
    this.#wallClock = wallClock;
    this.#pipeline = new WritePipeline({
      table,
      coordinator: this.#coordinator,
      audit: this.#auditLog,
      ledger: this.#ledger,
      hooks: options.hooks ?? {},
      seenTopics: () => this.barrier.knownTopics(),
      persistAudit: (entry) => this.#store.appendAudit(entry),
      flipTimeoutMs,
      maxHeldRequests,
      wallClock,
      closed: () => this.#closed,
    });
    this.#unsubscribe = store.subscribe((event) => this.#onStoreEvent(event));
    this.warnings = [...state.batches]
      .filter(([name]) => !rules.hasBatch(name))
      .map(([name, s]) => `the state store has batch "${name}" (${s}) but the config does not declare it; it routes nothing`);
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────────────────────

  get version(): number {
    return this.table.version;
  }

  /**
   * A move's prepare for `topic` arrived and does not hold yet, or failed here with its decision still to come: a
   * fleet's data path refuses the topic (retriable) meanwhile (participant.ts blocks()).
   */
  blocksProduce(topic: string): boolean {
    return this.#participant.blocks(topic);
  }

  resolve(topic: string): Resolution {
    checkTopicName(topic);
    return this.table.resolve(topic);
  }

  routes(): RoutesView {
    const snapshot = this.table.snapshot;
    return {
      version: snapshot.version,
      default: this.rules.default,
      batches: this.rules.batches.map((b) => {
        const state = snapshot.batchState(b.name);
        return { name: b.name, state, cluster: clusterOf(state), topics: b.topics, prefixes: b.prefixes, patterns: b.patterns };
      }),
      topics: [...snapshot.topicOverrides].map(([topic, state]) => ({
        topic,
        state,
        cluster: clusterOf(state),
        batch: this.rules.match(topic).batch,
      })),
      orphanedBatches: [...snapshot.batchStates].filter(([name]) => !this.rules.hasBatch(name)).map(([name, state]) => ({ name, state })),
      moves: this.barrier.activeMoves(),
    };
  }

  /** The whole audit trail (a copy). For the API, prefer auditPage. */
  audit(): readonly AuditEntry[] {
    return this.#auditLog.all();
  }

  /** The whole ledger (copies: firstOffsetOnNew of the live entries keeps filling in). For the API, prefer ledgerPage. */
  ledger(): readonly LedgerEntry[] {
    return this.#ledger.all();
  }

  /** The newest `limit` audit entries with seq < `before`, oldest first; O(limit). */
  auditPage(query: PageQuery = {}): Page<AuditEntry> {
    return this.#auditLog.page(query);
  }

  /** The newest `limit` ledger entries at positions < `before` (optionally of one topic), oldest first; O(limit). */
  ledgerPage(query: LedgerQuery = {}): Page<LedgerEntry> {
    return this.#ledger.page(query);
  }

  // ── writes ─────────────────────────────────────────────────────────────────────────────────────────────────

  async flipBatch(name: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#pipeline.run(batchOperation(this.rules, 'flip', name, 'target'), options);
  }

  async rollbackBatch(name: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#pipeline.run(batchOperation(this.rules, 'rollback', name, 'source'), options);
  }

  /** target → promoted: the target becomes authoritative. No traffic moves. */
  async promoteBatch(name: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#pipeline.run(batchOperation(this.rules, 'promote', name, 'promoted'), options);
  }

  async flipTopic(topic: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#pipeline.run(topicOperation(this.rules, 'flip', topic, 'target'), options);
  }

  async rollbackTopic(topic: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#pipeline.run(topicOperation(this.rules, 'rollback', topic, 'source'), options);
  }

  /** Every batch and topic override back to source, in one barrier move and one version. */
  async rollbackAll(options: WriteOptions): Promise<OperationResult> {
    return await this.#pipeline.run(allOperation(this.rules), options);
  }

  /**
   * Records an operation that changes no route (a consumer-group move) in the audit trail, with its outcome,
   * persisted like a refused operation's entry (best effort: a store failure does not hide it from this instance).
   */
  async recordAudit(entry: Pick<AuditEntry, 'who' | 'action' | 'target' | 'reason' | 'outcome' | 'details'>): Promise<AuditEntry> {
    if (this.#closed) throw new UnavailableError('the control plane is shutting down; nothing more is recorded');
    const recorded: AuditEntry = {
      ...entry,
      seq: this.#auditLog.nextSeq(),
      when: this.#wallClock().toISOString(),
      changes: [],
      version: this.table.version,
    };
    this.#auditLog.append(recorded);
    await this.#store.appendAudit(recorded).catch(() => undefined);
    return recorded;
  }

  /**
   * Records a fact that changes no route (action 'note', e.g. bypass writes a gate saw) in the audit, persisted
   * like a refused operation's entry (best effort: a store failure does not hide the note from this instance).
   */
  async note(entry: { readonly who: string; readonly target: AuditEntry['target']; readonly reason: string; readonly details?: AuditEntry['details'] }): Promise<AuditEntry> {
    return this.recordAudit({ who: entry.who, action: 'note', target: entry.target, reason: entry.reason, outcome: 'ok', details: entry.details ?? {} });
  }


  /** Saves pending ledger updates now. */
  async flush(): Promise<void> {
    if (this.#ledgerTimer !== null) {
      clearTimeout(this.#ledgerTimer);
      this.#ledgerTimer = null;
    }
    const updates = this.#pendingFirstOffsets;
    this.#pendingFirstOffsets = [];
    if (updates.length > 0) await this.#store.recordFirstOffsets(updates);
  }

  /** Flushes, stops background saves and closes the store. Writes after close() are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    await this.flush();
    await this.#store.close();
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────────────────

  #saveFirstOffsetSoon(update: FirstOffsetUpdate): void {
    this.#pendingFirstOffsets.push(update);
    if (this.#ledgerTimer !== null || this.#closed) return;
    this.#ledgerTimer = setTimeout(() => {
      this.#ledgerTimer = null;
      const updates = this.#pendingFirstOffsets;
      this.#pendingFirstOffsets = [];
      // A failed save is retried with the next batch of updates (the in-memory entry already has the offset).
      this.#store.recordFirstOffsets(updates).catch(() => this.#pendingFirstOffsets.unshift(...updates));
    }, this.#ledgerSaveDelayMs);
    this.#ledgerTimer.unref();
  }

  /** A change another writer committed: follow it (table, coordinator's view, history). */
  #onStoreEvent(event: StoreEvent): void {
    switch (event.type) {
      case 'commit': {
        const routes = this.#coordinator.routes;
        if (event.expectedVersion !== routes.version) return; // a gap: the next reset (or restart) resolves it
        this.#coordinator.adopt(applyChanges(routes, event.commit.changes, event.commit.version));
        for (const entry of event.commit.audit) this.#auditLog.append(entry);
        this.#ledger.add(event.commit.ledger.map((e) => ({ ...e })));
        // Generations follow the shared history on every member, also one that was not part of the move (gone,
        // restarted): the producer-id mappings and the new-route check (fleet) are keyed by them. A topic's
        // generation is the version of the commit that last moved it: the ledger's topics, and every topic this
        // member has seen or the change names whose cluster the version changes.
        const before = this.table.snapshot;
        for (const e of event.commit.ledger) this.barrier.seedGeneration(e.topic, e.version);
        this.#participant.install(event.commit.version, event.commit.changes);
        const after = this.table.snapshot;
        if (after.version === event.commit.version && before.version === event.commit.version - 1) {
          const named = event.commit.changes.flatMap((c) => (c.kind === 'topic' ? [c.name] : this.rules.batch(c.name)?.topics ?? []));
          for (const topic of new Set([...this.barrier.knownTopics(), ...named])) {
            if (before.resolve(topic).cluster !== after.resolve(topic).cluster) this.barrier.seedGeneration(topic, event.commit.version);
          }
        }
        return;
      }
      case 'audit':
        this.#auditLog.append(event.entry);
        return;
      case 'first-offsets':
        for (const u of event.updates) this.#ledger.setFirstOffset(u.version, u.topic, u.partition, u.offset);
        return;
      case 'reset': {
        const s = event.state;
        if (s.version === this.#coordinator.routes.version) return; // compacted, nothing new for the routes
        this.#coordinator.adopt({ version: s.version, batches: s.batches, topics: s.topics });
        this.table.swap({ version: s.version, batches: s.batches, topics: s.topics });
        return;
      }
      case 'producer-mapping':
        return; // the data path reads mappings itself (loadProducerMappings at start)
    }
  }
}

/**
 * Builds the control plane and restores the persisted routes, audit and ledger (a restart resumes where the
 * last acknowledged operation left off). Throws ValidationError for bad rules, StateStoreError for an unreadable
 * state.
 */
export async function createControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const rules = options.rules instanceof CompiledRules ? options.rules : compileRules(options.rules);
  const store = isStateStore(options.store) ? options.store : new SnapshotStoreAdapter(options.store);
  const loaded = await store.load();
  return new ControlPlane(rules, loaded ?? emptyRouteState(), store, options);
}
