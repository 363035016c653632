// The control plane: one object that the admin API (src/) calls for every route operation. It ties together
// the switch table (where topics go), the route state and its store (what is persisted), and the cutover
// barrier (how traffic moves without interleaving writes).
//
// Every write goes through the same steps:
//   1 validate (400 bad input, 404 unknown batch);
//   2 claim the operation's scope: a second operation on the same batch/topic (or anything while "rollback
//     everything" runs) gets a RouteConflictError (409) at once;
//   3 plan: the route changes (before → after), checked against the transition rules (409 with what to do);
//   4 pre-flight (only for moves to the target): refusals → 409 unless force; with force the audit says so;
//   5 dry run: return the plan, change nothing, record nothing;
//   6 move through the barrier; its commit step persists the new state (version + 1, audit entry, ledger
//     entries) and only then installs the new table version, so nothing is acknowledged before it is durable;
//   7 refused and aborted operations get an audit entry too.
//
// The plans themselves (which routes change, topic-override rules) are in route-plan.ts.

import { clusterOf, type Cluster, type RouteStateName } from './cluster.ts';
import { CutoverBarrier, type ActiveMoveInfo, type CommitContext, type MoveResult, type MoveTimings } from './cutover-barrier.ts';
import {
  FlipAbortedError,
  NotFoundError,
  PreflightError,
  RouteConflictError,
  RoutingError,
  StateStoreError,
  UnavailableError,
  ValidationError,
  errorMessage,
} from './errors.ts';
import {
  applyChanges,
  currentOf,
  emptyRouteState,
  type AuditAction,
  type AuditDetails,
  type AuditEntry,
  type AuditOutcome,
  type AuditTarget,
  type LedgerEntry,
  type RouteChange,
  type RouteState,
} from './route-state.ts';
import { planBatch, planRollbackAll, planTopic, scopesOverlap, type OperationScope, type RoutePlan } from './route-plan.ts';
import { CompiledRules, compileRules, isValidTopicName } from './rules.ts';
import type { StateStore } from './state-store.ts';
import { SwitchTable, type Resolution, type RoutingSnapshot } from './switch-table.ts';

export interface PreflightResult {
  /** Reasons to refuse (e.g. "orders: 6 partitions on source, 3 on target"). Refused unless forced. */
  readonly refusals: readonly string[];
  /** Worth knowing, never blocking. */
  readonly warnings: readonly string[];
}

/** Supplied by src/ (they need the clusters); all optional so the control plane works on its own in tests. */
export interface ControlPlaneHooks {
  /** Checks before a move to the target: partition counts, topic existence, … May throw (503). */
  readonly preflight?: (topics: readonly string[], to: Cluster) => Promise<PreflightResult>;
  /** Partition numbers of a topic, for the ledger; 'unknown' falls back to the partitions the proxy has seen. */
  readonly partitionsOf?: (topic: string) => readonly number[] | 'unknown' | Promise<readonly number[] | 'unknown'>;
  /**
   * Topics that exist (on either cluster), so prefix and pattern batches can be expanded for pre-flight and
   * the ledger. Topics the proxy has already seen are added automatically.
   */
  readonly knownTopics?: () => readonly string[] | Promise<readonly string[]>;
}

export interface ControlPlaneOptions {
  /** The `routes` config section (validated here), or rules already compiled. */
  readonly rules: unknown;
  readonly store: StateStore;
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
}

export interface WriteOptions {
  /** The admin token's name, recorded in the audit. */
  readonly who: string;
  readonly reason?: string;
  /** Plan and pre-flight only: nothing changes and nothing is recorded. */
  readonly dryRun?: boolean;
  /** Override pre-flight refusals; allow rolling back promoted routes (reconciliation). Recorded in the audit. */
  readonly force?: boolean;
  /** Overrides flipTimeoutMs for this operation. */
  readonly timeoutMs?: number;
  /** Cancels the move while it drains. */
  readonly signal?: AbortSignal;
}

export interface OperationResult {
  readonly dryRun: boolean;
  readonly action: AuditAction;
  readonly target: AuditTarget;
  /** 'planned' for a dry run; 'forced' when force overrode a refusal or allowed a promoted rollback. */
  readonly outcome: 'planned' | 'ok' | 'forced';
  /** The table version after the operation (the current one for a dry run). */
  readonly version: number;
  readonly previousVersion: number;
  readonly changes: readonly RouteChange[];
  /** The traffic move: topics held (dry run: topics known to move). Null for promote. */
  readonly move: { readonly from: Cluster; readonly to: Cluster; readonly topics: readonly string[] } | null;
  readonly preflight: PreflightResult | null;
  /** What force overrode (refusals, promoted rollbacks); empty when nothing needed forcing. */
  readonly forced: readonly string[];
  /** Would be refused without force (dry run) — same list as preflight refusals plus transition refusals. */
  readonly refusals: readonly string[];
  readonly timings: MoveTimings | null;
  /** Ledger entries written by this operation (firstOffsetOnNew fills in later; see ledger()). */
  readonly ledger: readonly LedgerEntry[];
  readonly heldRequests: number;
  readonly rejectedRequests: number;
  readonly reconciliation: boolean;
}

export interface RoutesView {
  readonly version: number;
  readonly default: Cluster;
  readonly batches: readonly {
    readonly name: string;
    readonly state: RouteStateName;
    readonly cluster: Cluster;
    readonly topics: readonly string[];
    readonly prefixes: readonly string[];
    readonly patterns: readonly string[];
  }[];
  readonly topics: readonly { readonly topic: string; readonly state: RouteStateName; readonly cluster: Cluster; readonly batch: string | null }[];
  /** Batches in the state store that the config no longer declares (they route nothing). */
  readonly orphanedBatches: readonly { readonly name: string; readonly state: RouteStateName }[];
  readonly moves: readonly ActiveMoveInfo[];
}

interface Operation {
  readonly action: AuditAction;
  readonly target: AuditTarget;
  readonly scope: OperationScope;
  readonly label: string;
  readonly plan: (snapshot: RoutingSnapshot, force: boolean) => RoutePlan;
  /** Topics to list explicitly (plus known topics matching the change). */
  readonly seedTopics: (snapshot: RoutingSnapshot) => readonly string[];
  /** A single-topic operation holds exactly that topic, no pattern matching. */
  readonly exactTopic: string | null;
}

/** Runs async functions one at a time: commits, audit appends and ledger saves never interleave. */
class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

export class ControlPlane {
  readonly rules: CompiledRules;
  readonly table: SwitchTable;
  /** The data path's entry point: admit/complete/abandon per partition (see cutover-barrier.ts). */
  readonly barrier: CutoverBarrier;
  /** Problems found at start-up (e.g. state for batches the config no longer declares). */
  readonly warnings: readonly string[];
  readonly #store: StateStore;
  readonly #hooks: ControlPlaneHooks;
  readonly #flipTimeoutMs: number;
  readonly #maxHeldRequests: number;
  readonly #ledgerSaveDelayMs: number;
  readonly #wallClock: () => Date;
  readonly #queue = new SerialQueue();
  readonly #active = new Set<{ readonly scope: OperationScope; readonly label: string }>();
  #state: RouteState;
  #ledgerTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(rules: CompiledRules, state: RouteState, store: StateStore, options: ControlPlaneOptions) {
    this.rules = rules;
    this.#state = state;
    this.#store = store;
    this.#hooks = options.hooks ?? {};
    this.#flipTimeoutMs = options.flipTimeoutMs ?? 10_000;
    this.#maxHeldRequests = options.maxHeldRequests ?? 10_000;
    this.#ledgerSaveDelayMs = options.ledgerSaveDelayMs ?? 200;
    if (!(Number.isFinite(this.#flipTimeoutMs) && this.#flipTimeoutMs > 0)) {
      throw new ValidationError(`flipTimeoutMs: must be a positive number of milliseconds, got ${this.#flipTimeoutMs}`);
    }
    if (!(Number.isInteger(this.#maxHeldRequests) && this.#maxHeldRequests >= 0)) {
      throw new ValidationError(`maxHeldRequests: must be an integer >= 0, got ${this.#maxHeldRequests}`);
    }
    this.#wallClock = options.wallClock ?? (() => new Date());
    this.table = new SwitchTable(rules, state);
    const table = this.table;
    this.barrier = new CutoverBarrier({
      routeOf: (topic) => table.resolve(topic).cluster,
      ...(options.quarantineMs !== undefined ? { quarantineMs: options.quarantineMs } : {}),
      ...(options.unresolvedWindowMs !== undefined ? { unresolvedWindowMs: options.unresolvedWindowMs } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
    this.warnings = [...state.batches]
      .filter(([name]) => !rules.hasBatch(name))
      .map(([name, s]) => `the state store has batch "${name}" (${s}) but the config does not declare it; it routes nothing`);
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────────────────────

  get version(): number {
    return this.table.version;
  }

  resolve(topic: string): Resolution {
    this.#checkTopicName(topic);
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

  audit(): readonly AuditEntry[] {
    return [...this.#state.audit];
  }

  /** Copies: firstOffsetOnNew of the live entries keeps filling in. */
  ledger(): readonly LedgerEntry[] {
    return this.#state.ledger.map((e) => ({ ...e }));
  }

  // ── writes ─────────────────────────────────────────────────────────────────────────────────────────────────

  async flipBatch(name: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#run(this.#batchOperation('flip', name, 'target'), options);
  }

  async rollbackBatch(name: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#run(this.#batchOperation('rollback', name, 'source'), options);
  }

  /** target → promoted: the target becomes authoritative. No traffic moves. */
  async promoteBatch(name: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#run(this.#batchOperation('promote', name, 'promoted'), options);
  }

  async flipTopic(topic: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#run(this.#topicOperation('flip', topic, 'target'), options);
  }

  async rollbackTopic(topic: string, options: WriteOptions): Promise<OperationResult> {
    return await this.#run(this.#topicOperation('rollback', topic, 'source'), options);
  }

  /** Every batch and topic override back to source, in one barrier move and one version. */
  async rollbackAll(options: WriteOptions): Promise<OperationResult> {
    return await this.#run(this.#allOperation(), options);
  }

  /** Saves pending ledger updates now. */
  async flush(): Promise<void> {
    if (this.#ledgerTimer !== null) {
      clearTimeout(this.#ledgerTimer);
      this.#ledgerTimer = null;
    }
    await this.#queue.run(() => this.#store.save(this.#state));
  }

  /** Flushes and stops background saves. Writes after close() are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  // ── operations ─────────────────────────────────────────────────────────────────────────────────────────────

  #batchOperation(action: 'flip' | 'rollback' | 'promote', name: string, to: RouteStateName): Operation {
    if (typeof name !== 'string' || !this.rules.hasBatch(name)) {
      const known = this.rules.batches.map((b) => b.name);
      throw new NotFoundError(`unknown batch "${String(name)}"; the config declares ${known.length > 0 ? known.join(', ') : 'no batches'}`);
    }
    return {
      action,
      target: { kind: 'batch', name },
      scope: { kind: 'batch', name },
      label: `${action} of batch "${name}"`,
      exactTopic: null,
      seedTopics: () => this.rules.batch(name)?.topics ?? [],
      plan: (snapshot, force) => planBatch(snapshot, name, to, force),
    };
  }

  #topicOperation(action: 'flip' | 'rollback', topic: string, to: 'source' | 'target'): Operation {
    this.#checkTopicName(topic);
    return {
      action,
      target: { kind: 'topic', name: topic },
      scope: { kind: 'topic', name: topic, batch: this.rules.match(topic).batch },
      label: `${action} of topic "${topic}"`,
      exactTopic: topic,
      seedTopics: () => [topic],
      plan: (snapshot, force) => planTopic(snapshot, topic, to, force),
    };
  }

  #allOperation(): Operation {
    return {
      action: 'rollback-all',
      target: { kind: 'all', name: null },
      scope: { kind: 'all' },
      label: 'rollback of everything',
      exactTopic: null,
      seedTopics: (snapshot) => [...this.rules.batches.flatMap((b) => b.topics), ...snapshot.topicOverrides.keys()],
      plan: (snapshot, force) => planRollbackAll(snapshot, force),
    };
  }

  async #run(op: Operation, options: WriteOptions): Promise<OperationResult> {
    if (this.#closed) throw new UnavailableError('the control plane is shutting down; no route changes are accepted');
    if (typeof options.who !== 'string' || options.who.length === 0) throw new ValidationError('who: the operator (token name) is required');
    if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
      throw new ValidationError(`timeoutMs: must be a positive number of milliseconds, got ${options.timeoutMs}`);
    }
    const reason = options.reason ?? '';
    const force = options.force === true;
    const dryRun = options.dryRun === true;
    const record = (outcome: AuditOutcome, changes: readonly RouteChange[], details: AuditDetails): Promise<void> =>
      dryRun ? Promise.resolve() : this.#appendAudit({ op, who: options.who, reason, outcome, changes, details });

    const snapshot = this.table.snapshot;
    let plan: RoutePlan;
    try {
      plan = op.plan(snapshot, force);
    } catch (error) {
      if (error instanceof RouteConflictError) await record('refused', [], { error: error.message });
      throw error;
    }

    const claim = { scope: op.scope, label: op.label };
    if (!dryRun) {
      const running = [...this.#active].find((a) => scopesOverlap(a.scope, op.scope));
      if (running !== undefined) {
        const error = new RouteConflictError(`${op.label} conflicts with the ${running.label} that is running; wait for it to finish and retry`);
        await record('refused', plan.changes, { error: error.message });
        throw error;
      }
      this.#active.add(claim);
    }
    try {
      return await this.#execute(op, plan, snapshot, { ...options, reason, force, dryRun }, record);
    } finally {
      this.#active.delete(claim);
    }
  }

  async #execute(
    op: Operation,
    plan: RoutePlan,
    snapshot: RoutingSnapshot,
    options: WriteOptions & { readonly reason: string; readonly force: boolean; readonly dryRun: boolean },
    record: (outcome: AuditOutcome, changes: readonly RouteChange[], details: AuditDetails) => Promise<void>,
  ): Promise<OperationResult> {
    const { force, dryRun } = options;
    const next = this.table.preview(applyChanges(snapshot.assignment(), plan.changes, snapshot.version + 1));
    const moving = (topic: string): boolean => snapshot.resolve(topic).cluster !== next.resolve(topic).cluster;
    const move = plan.from !== null && plan.to !== null ? { from: plan.from, to: plan.to } : null;
    let topics: string[] = [];
    let preflight: PreflightResult | null = null;
    try {
      if (move !== null) topics = await this.#movingTopics(op, snapshot, moving);
      if (move !== null && move.to === 'target' && this.#hooks.preflight !== undefined) {
        preflight = await this.#hooks.preflight(topics, move.to);
      }
    } catch (error) {
      await record('refused', plan.changes, { error: `pre-flight failed: ${errorMessage(error)}`, topics });
      if (error instanceof RoutingError) throw error;
      throw new PreflightError(`${op.label}: pre-flight checks could not run: ${errorMessage(error)}`, { cause: error });
    }
    const refusals = preflight?.refusals ?? [];
    const forced = [...plan.forced, ...(force ? refusals.map((r) => `pre-flight refusal overridden: ${r}`) : [])];
    const base = {
      action: op.action,
      target: op.target,
      previousVersion: snapshot.version,
      changes: plan.changes,
      preflight,
      forced,
      refusals,
      reconciliation: plan.reconciliation,
    };

    if (dryRun) {
      return {
        ...base,
        dryRun: true,
        outcome: 'planned',
        version: snapshot.version,
        move: move === null ? null : { ...move, topics },
        timings: null,
        ledger: [],
        heldRequests: 0,
        rejectedRequests: 0,
      };
    }
    if (refusals.length > 0 && !force) {
      const error = new RouteConflictError(
        `${op.label} refused by pre-flight checks: ${refusals.join('; ')}. Fix them, or repeat with force=true to override (recorded in the audit).`,
        refusals,
      );
      await record('refused', plan.changes, { refusals, warnings: preflight?.warnings ?? [], topics });
      throw error;
    }

    const outcome: AuditOutcome = forced.length > 0 ? 'forced' : 'ok';
    const details: AuditDetails = {
      ...(refusals.length > 0 ? { refusals } : {}),
      ...(preflight !== null && preflight.warnings.length > 0 ? { warnings: preflight.warnings } : {}),
      ...(plan.reconciliation ? { reconciliation: true } : {}),
    };
    const written: LedgerEntry[] = [];
    const byPartition = new Map<string, LedgerEntry>();
    let committedVersion = snapshot.version;
    const commit = (context: CommitContext | null): Promise<void> =>
      this.#commit(op, plan, options, outcome, details, context, (version, entries) => {
        committedVersion = version;
        for (const entry of entries) {
          written.push(entry);
          byPartition.set(`${entry.topic}\u0000${entry.partition}`, entry);
        }
      });

    if (move === null) {
      try {
        await commit(null);
      } catch (error) {
        await record(error instanceof RouteConflictError ? 'refused' : 'aborted', plan.changes, { error: errorMessage(error) });
        throw error;
      }
      return { ...base, dryRun: false, outcome, version: committedVersion, move: null, timings: null, ledger: [], heldRequests: 0, rejectedRequests: 0 };
    }

    const partitions = await this.#partitionMap(topics);
    let result: MoveResult;
    try {
      result = await this.barrier.move({
        topics,
        ...(op.exactTopic === null ? { matches: moving } : {}),
        partitionsOf: (topic) => partitions.get(topic) ?? 'unknown',
        from: move.from,
        to: move.to,
        timeoutMs: options.timeoutMs ?? this.#flipTimeoutMs,
        maxHeldRequests: this.#maxHeldRequests,
        // A forced move accepts the duplicate risk of writes with an unknown outcome (cutover-barrier.ts point 7).
        inDoubt: force ? 'reject' : 'abort',
        label: op.label,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        commit,
        onFirstOffset: (event) => {
          const entry = byPartition.get(`${event.topic}\u0000${event.partition}`);
          if (entry !== undefined && entry.firstOffsetOnNew === null) {
            entry.firstOffsetOnNew = event.offset;
            this.#saveLedgerSoon();
          }
        },
      });
    } catch (error) {
      await record(error instanceof RouteConflictError ? 'refused' : 'aborted', plan.changes, { error: errorMessage(error), topics });
      throw error;
    }
    if (result.outcome === 'aborted') {
      const message = result.abort?.message ?? `${op.label} aborted`;
      await record('aborted', plan.changes, {
        error: message,
        topics: result.topics,
        holdMs: result.timings.holdMs,
        drainMs: result.timings.drainMs,
        heldRequests: result.heldRequests,
        rejectedRequests: result.rejectedRequests,
      });
      throw new FlipAbortedError(message, result);
    }
    return {
      ...base,
      dryRun: false,
      outcome,
      version: committedVersion,
      move: { ...move, topics: result.topics },
      timings: result.timings,
      ledger: written.map((e) => ({ ...e })),
      heldRequests: result.heldRequests,
      rejectedRequests: result.rejectedRequests,
    };
  }

  /** Persists the new route state, then installs it. Runs inside the barrier, while the topics are held. */
  #commit(
    op: Operation,
    plan: RoutePlan,
    options: { readonly who: string; readonly reason: string },
    outcome: AuditOutcome,
    details: AuditDetails,
    context: CommitContext | null,
    onCommitted: (version: number, entries: readonly LedgerEntry[]) => void,
  ): Promise<void> {
    return this.#queue.run(async () => {
      const current = this.#state;
      for (const change of plan.changes) {
        const now = currentOf(current, change);
        if (now !== change.before) {
          throw new RouteConflictError(
            `${op.label}: ${change.kind} "${change.name}" changed from ${change.before ?? 'no override'} to ${now ?? 'no override'} while the operation ran; retry`,
          );
        }
      }
      const version = current.version + 1;
      const when = this.#wallClock().toISOString();
      const before = this.table.snapshot;
      const entries: LedgerEntry[] = (context?.partitions ?? []).map((p) => {
        const reconciliation = plan.reconciliation && before.resolve(p.topic).state === 'promoted';
        return {
          topic: p.topic,
          partition: p.partition,
          from: context?.from ?? 'source',
          to: context?.to ?? 'target',
          version,
          lastOffsetOnOld: p.lastOffsetOnOld,
          firstOffsetOnNew: null,
          holdMs: context?.holdMs ?? 0,
          at: when,
          reconciliation,
          reconcileFromOffset: reconciliation ? this.#lastFirstOffsetOnTarget(current.ledger, p.topic, p.partition) : null,
          failedDrain: p.failedDrain,
        };
      });
      const entry: AuditEntry = {
        seq: (current.audit.at(-1)?.seq ?? 0) + 1,
        who: options.who,
        when,
        action: op.action,
        target: op.target,
        reason: options.reason,
        changes: plan.changes,
        outcome,
        version,
        details: {
          ...details,
          ...(context !== null
            ? {
                topics: context.topics,
                partitions: context.partitions.length,
                holdMs: context.holdMs,
                drainMs: context.drainMs,
                heldRequests: context.heldRequests,
              }
            : {}),
        },
      };
      const assignment = applyChanges(current, plan.changes, version);
      const next: RouteState = { ...assignment, audit: [...current.audit, entry], ledger: [...current.ledger, ...entries] };
      try {
        await this.#store.save(next);
      } catch (error) {
        if (error instanceof StateStoreError) throw error;
        throw new StateStoreError(`cannot persist the new routes, nothing was switched: ${errorMessage(error)}`, { cause: error });
      }
      this.#state = next;
      this.table.swap(assignment);
      onCommitted(version, entries);
    });
  }

  #lastFirstOffsetOnTarget(ledger: readonly LedgerEntry[], topic: string, partition: number): bigint | null {
    for (let i = ledger.length - 1; i >= 0; i--) {
      const e = ledger[i];
      if (e.topic === topic && e.partition === partition && e.to === 'target') return e.firstOffsetOnNew;
    }
    return null;
  }

  /** Records a refused or aborted operation. Best effort: a failing store must not hide the original error. */
  #appendAudit(input: {
    op: Operation;
    who: string;
    reason: string;
    outcome: AuditOutcome;
    changes: readonly RouteChange[];
    details: AuditDetails;
  }): Promise<void> {
    return this.#queue
      .run(async () => {
        const current = this.#state;
        const entry: AuditEntry = {
          seq: (current.audit.at(-1)?.seq ?? 0) + 1,
          who: input.who,
          when: this.#wallClock().toISOString(),
          action: input.op.action,
          target: input.op.target,
          reason: input.reason,
          changes: input.changes,
          outcome: input.outcome,
          version: current.version,
          details: input.details,
        };
        // Kept in memory even if the save fails: the next successful save writes it.
        this.#state = { ...current, audit: [...current.audit, entry] };
        await this.#store.save(this.#state);
      })
      .catch(() => undefined);
  }

  #saveLedgerSoon(): void {
    if (this.#ledgerTimer !== null || this.#closed) return;
    this.#ledgerTimer = setTimeout(() => {
      this.#ledgerTimer = null;
      // A failed save is retried by the next one (the in-memory entry already has the offset).
      this.#queue.run(() => this.#store.save(this.#state)).catch(() => undefined);
    }, this.#ledgerSaveDelayMs);
    this.#ledgerTimer.unref();
  }

  /** Topics a move holds explicitly: seeds and every known topic whose cluster changes. */
  async #movingTopics(op: Operation, snapshot: RoutingSnapshot, moving: (topic: string) => boolean): Promise<string[]> {
    if (op.exactTopic !== null) return [op.exactTopic];
    const candidates = new Set<string>(op.seedTopics(snapshot));
    for (const topic of this.barrier.knownTopics()) candidates.add(topic);
    if (this.#hooks.knownTopics !== undefined) for (const topic of await this.#hooks.knownTopics()) candidates.add(topic);
    return [...candidates].filter((t) => isValidTopicName(t) && moving(t)).sort();
  }

  async #partitionMap(topics: readonly string[]): Promise<Map<string, readonly number[] | 'unknown'>> {
    const out = new Map<string, readonly number[] | 'unknown'>();
    const hook = this.#hooks.partitionsOf;
    if (hook === undefined) return out;
    await Promise.all(
      topics.map(async (topic) => {
        try {
          out.set(topic, await hook(topic));
        } catch {
          out.set(topic, 'unknown'); // the ledger then lists the partitions the proxy has seen
        }
      }),
    );
    return out;
  }

  #checkTopicName(topic: string): void {
    if (typeof topic !== 'string' || !isValidTopicName(topic)) {
      throw new ValidationError(`topic: "${String(topic)}" is not a valid Kafka topic name (1-249 characters of letters, digits, ".", "_" and "-")`);
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
  const loaded = await options.store.load();
  return new ControlPlane(rules, loaded ?? emptyRouteState(), options.store, options);
}
