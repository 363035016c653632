// Every route write goes through the same steps:
//   1 validate (400 bad input, 404 unknown batch);
//   2 claim the operation's scope: a second operation on the same batch/topic (or anything while "rollback
//     everything" runs) gets a RouteConflictError (409) at once;
//   3 plan: the route changes (before → after), checked against the transition rules (409 with what to do);
//   4 pre-flight (only for moves to the target): refusals → 409 unless force; with force the audit says so;
//   5 dry run: return the plan, change nothing, record nothing;
//   6 move through the coordinator (coordinator.ts): every member holds and drains, the coordinator re-checks
//     the plan against the committed routes, commits the version (audit entry and ledger entries included) to
//     the store with compare-and-set, and only then do the members install it and release: nothing is
//     acknowledged before it is durable, and a stale version (another writer was first) is a 409;
//   7 refused and aborted operations get an audit entry too.
// The plans themselves (which routes change, topic-override rules) are in route-plan.ts.

import type { Cluster } from './cluster.ts';
import type { CommitInput, MoveCoordinator } from './coordinator.ts';
import {
  FlipAbortedError,
  PreflightError,
  RouteConflictError,
  RoutingError,
  UnavailableError,
  ValidationError,
  errorMessage,
} from './errors.ts';
import type { AuditLog } from './audit-log.ts';
import type { Ledger } from './ledger.ts';
import type { ControlPlaneHooks, Operation, OperationResult, PreflightResult, WriteOptions } from './operations.ts';
import { scopesOverlap, type OperationScope, type RoutePlan } from './route-plan.ts';
import {
  applyChanges,
  currentOf,
  type AuditDetails,
  type AuditEntry,
  type AuditOutcome,
  type LedgerEntry,
  type RouteChange,
} from './route-state.ts';
import { isValidTopicName } from './rules.ts';
import type { StateCommit } from './state-store.ts';
import { partitionErrorsSince, sumPartitionErrors, type PartitionErrorCount } from './move-errors.ts';
import type { WarmUpReport } from './warm-up.ts';
import type { RoutingSnapshot, SwitchTable } from './switch-table.ts';

export interface PipelineOptions {
  readonly table: SwitchTable;
  readonly coordinator: MoveCoordinator;
  readonly audit: AuditLog;
  readonly ledger: Ledger;
  readonly hooks: ControlPlaneHooks;
  /** Topics this instance's barrier has seen. */
  readonly seenTopics: () => readonly string[];
  /** Persists an audit entry that changes no route; best effort. */
  readonly persistAudit: (entry: AuditEntry) => Promise<void>;
  readonly flipTimeoutMs: number;
  readonly maxHeldRequests: number;
  readonly wallClock: () => Date;
  readonly closed: () => boolean;
}

type Record = (outcome: AuditOutcome, changes: readonly RouteChange[], details: AuditDetails) => Promise<void>;

/** How long a move waits for the coordinator's routes to reach the version this member applied. */
const CATCH_UP_MS = 3_000;

export class WritePipeline {
  readonly #o: PipelineOptions;
  readonly #active = new Set<{ readonly scope: OperationScope; readonly label: string }>();

  constructor(options: PipelineOptions) {
    this.#o = options;
  }

  async run(op: Operation, options: WriteOptions): Promise<OperationResult> {
    if (this.#o.closed()) throw new UnavailableError('the control plane is shutting down; no route changes are accepted');
    if (typeof options.who !== 'string' || options.who.length === 0) throw new ValidationError('who: the operator (token name) is required');
    if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
      throw new ValidationError(`timeoutMs: must be a positive number of milliseconds, got ${options.timeoutMs}`);
    }
    const reason = options.reason ?? '';
    const force = options.force === true;
    const dryRun = options.dryRun === true;
    const record: Record = (outcome, changes, details) =>
      dryRun ? Promise.resolve() : this.#recordAudit(op, options.who, reason, outcome, changes, details);

    await this.#coordinatorCaughtUp();
    const snapshot = this.#o.table.snapshot;
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

  /**
   * In a fleet a member installs a version from the move's commit message (participant) a little before its
   * coordinator adopts it from the route log (store subscription). A move taken in between would be proposed on
   * the older version and lose the compare-and-set (409) although nothing else changed: wait, briefly, for the
   * coordinator to see what this member already applied.
   */
  async #coordinatorCaughtUp(): Promise<void> {
    const deadline = Date.now() + CATCH_UP_MS;
    while (this.#o.coordinator.routes.version < this.#o.table.version && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async #execute(
    op: Operation,
    plan: RoutePlan,
    snapshot: RoutingSnapshot,
    options: WriteOptions & { readonly reason: string; readonly force: boolean; readonly dryRun: boolean },
    record: Record,
  ): Promise<OperationResult> {
    const { force, dryRun } = options;
    const next = this.#o.table.preview(applyChanges(snapshot.assignment(), plan.changes, snapshot.version + 1));
    const moving = (topic: string): boolean => snapshot.resolve(topic).cluster !== next.resolve(topic).cluster;
    const move = plan.from !== null && plan.to !== null ? { from: plan.from, to: plan.to } : null;
    let topics: string[] = [];
    let preflight: PreflightResult | null = null;
    try {
      if (move !== null) topics = await this.#movingTopics(op, snapshot, moving);
      if (move !== null && move.to === 'target' && this.#o.hooks.preflight !== undefined) {
        preflight = await this.#o.hooks.preflight(topics, move.to);
      }
      if (move === null && op.action === 'promote' && this.#o.hooks.promoteCheck !== undefined) {
        topics = await this.#movingTopics(op, snapshot, (topic) => snapshot.resolve(topic).state !== next.resolve(topic).state);
        preflight = await this.#o.hooks.promoteCheck(topics, op.target.kind === 'batch' ? op.target.name : null);
      }
      if (move !== null && this.#o.hooks.movePreflight !== undefined) {
        const more = await this.#o.hooks.movePreflight(topics, move.from, move.to);
        preflight = { refusals: [...(preflight?.refusals ?? []), ...more.refusals], warnings: [...(preflight?.warnings ?? []), ...more.warnings] };
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
    const none = { timings: null, ledger: [], heldRequests: 0, rejectedRequests: 0, partitionErrors: null, warmUp: null };

    if (dryRun) {
      return { ...base, ...none, dryRun: true, outcome: 'planned', version: snapshot.version, move: move === null ? null : { ...move, topics } };
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
    const build = (input: CommitInput): StateCommit => this.#buildCommit(op, plan, options, outcome, details, snapshot, move, input);
    const failed = (error: unknown, extra: AuditDetails = {}): Promise<void> =>
      record(error instanceof RouteConflictError ? 'refused' : 'aborted', plan.changes, { error: errorMessage(error), ...extra });

    if (move === null) {
      let commit: StateCommit;
      try {
        commit = await this.#o.coordinator.install(build);
      } catch (error) {
        await failed(error);
        throw error;
      }
      return { ...base, ...none, dryRun: false, outcome, version: commit.version, move: null };
    }

    const partitions = await this.#partitionMap(topics);
    let moved;
    try {
      moved = await this.#o.coordinator.move(
        {
          label: op.label,
          changes: plan.changes,
          from: move.from,
          to: move.to,
          topics,
          holdMatching: op.exactTopic === null,
          partitions: topics.map((topic) => ({ topic, partitions: partitions.get(topic) ?? 'unknown' })),
          timeoutMs: options.timeoutMs ?? this.#o.flipTimeoutMs,
          maxHeldRequests: this.#o.maxHeldRequests,
          // A forced move accepts the duplicate risk of writes with an unknown outcome (cutover-barrier.ts point 7).
          inDoubt: force ? 'reject' : 'abort',
          ...(options.signal !== undefined ? { signal: options.signal } : {}),
        },
        build,
      );
    } catch (error) {
      await failed(error, { topics });
      throw error;
    }
    if (moved.outcome === 'aborted') {
      const result = moved.result;
      const message = result.abort?.message ?? `${op.label} aborted`;
      await record('aborted', plan.changes, {
        error: message,
        topics: result.topics,
        holdMs: result.timings.holdMs,
        drainMs: result.timings.drainMs,
        heldRequests: result.heldRequests,
        rejectedRequests: result.rejectedRequests,
        ...(result.partitionErrors !== undefined ? { partitionErrors: result.partitionErrors } : {}),
        ...(result.warmUp ? { warmUpMs: result.warmUp.ms } : {}),
      });
      throw new FlipAbortedError(message, result);
    }
    // One member today; with several, the slowest member's timings and the union of what they held.
    const [first, ...others] = moved.results;
    const timings = first === undefined ? null : others.reduce((t, r) => (r.timings.holdMs > t.holdMs ? r.timings : t), first.timings);
    const partitionErrors = sumPartitionErrors(moved.results.map((r) => r.partitionErrors));
    const warmUp = moved.results.reduce<WarmUpReport | null>((w, r) => (r.warmUp && (w === null || r.warmUp.ms > w.ms) ? r.warmUp : w), null);
    // The commit's audit entry counted the errors up to the commit; errors answered after the switch (a failed
    // drain's rejections, an upstream error on the new side) get an entry of their own, so the audit has them all.
    const inCommit = sumPartitionErrors(moved.commit.audit.map((e) => e.details.partitionErrors));
    const afterSwitch = partitionErrorsSince(inCommit, partitionErrors);
    if (afterSwitch.total > 0) {
      await record(outcome, [], {
        error: `${afterSwitch.total} partition error(s) answered after the switch to version ${moved.version}: ${describeReasons(afterSwitch)}`,
        topics: [...new Set(moved.results.flatMap((r) => r.topics))],
        partitionErrors: afterSwitch,
      });
    }
    return {
      ...base,
      dryRun: false,
      outcome,
      version: moved.version,
      // Per member (a fleet): the hold each one saw, or that it was gone / silent.
      members: moved.members.map((m) => ({
        member: m.member,
        status: m.status,
        holdMs: m.result?.timings.holdMs ?? null,
        drainMs: m.result?.timings.drainMs ?? null,
        heldRequests: m.result?.heldRequests ?? null,
      })),
      move: { ...move, topics: [...new Set(moved.results.flatMap((r) => r.topics))] },
      timings,
      ledger: moved.commit.ledger.map((e) => ({ ...e })),
      heldRequests: moved.results.reduce((n, r) => n + r.heldRequests, 0),
      rejectedRequests: moved.results.reduce((n, r) => n + r.rejectedRequests, 0),
      partitionErrors,
      warmUp,
    };
  }

  /** The version's commit, built when every member has drained. Re-checks the plan against the committed routes. */
  #buildCommit(
    op: Operation,
    plan: RoutePlan,
    options: { readonly who: string; readonly reason: string },
    outcome: AuditOutcome,
    details: AuditDetails,
    planned: RoutingSnapshot,
    move: { readonly from: Cluster; readonly to: Cluster } | null,
    input: CommitInput,
  ): StateCommit {
    for (const change of plan.changes) {
      const now = currentOf(input.routes, change);
      if (now !== change.before) {
        throw new RouteConflictError(
          `${op.label}: ${change.kind} "${change.name}" changed from ${change.before ?? 'no override'} to ${now ?? 'no override'} while the operation ran; retry`,
        );
      }
    }
    const when = this.#o.wallClock().toISOString();
    const reports = input.prepared;
    // One member today; several later: the partitions each reported (the highest last offset wins), the longest hold.
    const byPartition = new Map<string, (typeof reports)[number]['partitions'][number]>();
    for (const r of reports) {
      for (const p of r.partitions) {
        const key = `${p.topic}\u0000${p.partition}`;
        const seen = byPartition.get(key);
        if (seen === undefined || (p.lastOffsetOnOld !== null && (seen.lastOffsetOnOld === null || p.lastOffsetOnOld > seen.lastOffsetOnOld))) {
          byPartition.set(key, { ...p, failedDrain: p.failedDrain || (seen?.failedDrain ?? false) });
        }
      }
    }
    const holdMs = Math.max(0, ...reports.map((r) => r.holdMs));
    const ledger: LedgerEntry[] =
      move === null
        ? []
        : this.#o.ledger.entriesFor({
            partitions: [...byPartition.values()],
            from: move.from,
            to: move.to,
            version: input.version,
            holdMs,
            at: when,
            reconciles: (topic) => plan.reconciliation && planned.resolve(topic).state === 'promoted',
          });
    const entry: AuditEntry = {
      seq: this.#o.audit.nextSeq(),
      who: options.who,
      when,
      action: op.action,
      target: op.target,
      reason: options.reason,
      changes: plan.changes,
      outcome,
      version: input.version,
      details: {
        ...details,
        ...(move !== null && reports.length > 0
          ? {
              topics: [...new Set(reports.flatMap((r) => r.topics))],
              partitions: byPartition.size,
              holdMs,
              drainMs: Math.max(0, ...reports.map((r) => r.drainMs)),
              heldRequests: reports.reduce((n, r) => n + r.heldRequests, 0),
              partitionErrors: sumPartitionErrors(reports.map((r) => r.partitionErrors)),
            }
          : {}),
      },
    };
    return { version: input.version, changes: plan.changes, audit: [entry], ledger };
  }

  /** Records a refused or aborted operation. Kept in memory even if the store fails (it must not hide the error). */
  async #recordAudit(op: Operation, who: string, reason: string, outcome: AuditOutcome, changes: readonly RouteChange[], details: AuditDetails): Promise<void> {
    const entry: AuditEntry = {
      seq: this.#o.audit.nextSeq(),
      who,
      when: this.#o.wallClock().toISOString(),
      action: op.action,
      target: op.target,
      reason,
      changes,
      outcome,
      version: this.#o.coordinator.routes.version,
      details,
    };
    this.#o.audit.append(entry);
    await this.#o.persistAudit(entry).catch(() => undefined);
  }

  /** Topics a move holds explicitly: seeds and every known topic whose cluster changes. */
  async #movingTopics(op: Operation, snapshot: RoutingSnapshot, moving: (topic: string) => boolean): Promise<string[]> {
    if (op.exactTopic !== null) return [op.exactTopic];
    const candidates = new Set<string>(op.seedTopics(snapshot));
    for (const topic of this.#o.seenTopics()) candidates.add(topic);
    if (this.#o.hooks.knownTopics !== undefined) for (const topic of await this.#o.hooks.knownTopics()) candidates.add(topic);
    return [...candidates].filter((t) => isValidTopicName(t) && moving(t)).sort();
  }

  async #partitionMap(topics: readonly string[]): Promise<Map<string, readonly number[] | 'unknown'>> {
    const out = new Map<string, readonly number[] | 'unknown'>();
    const hook = this.#o.hooks.partitionsOf;
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
}

/** "3× NOT_LEADER_OR_FOLLOWER: kmp: partition is moving … (failed-drain), retry; …" for an audit message. */
function describeReasons(count: PartitionErrorCount): string {
  return Object.entries(count.reasons)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${n}× ${reason}`)
    .join('; ');
}
