// Releases the members of a move whose coordinator died between prepare and decision (two-phase commit's
// blocking case): without it every member that prepared holds the moving partitions until an instance restarts.
//
// Every member reads the whole move log, so every member knows which prepares have no decision yet. Once a
// move's coordinator is gone (its lease ran out on this member's clock, plus the skew margin: routing/fleet/
// leases.ts), or is still live but silent past the move's own bound (timeoutMs + the coordinator's reply grace
// + a lease: it would have decided by then), a member asks the route log to abort the move (StateStore.
// abortMove). The log decides: its first record for the move — the coordinator's commit, or any member's abort —
// wins on every member (move-decisions.ts). So the member then delivers that decision to its own participant:
// abort (held writes go to the old cluster, the route is unchanged) or, when the commit landed first, the
// commit (install and release). A coordinator that was only paused and commits late finds its commit skipped
// (the store answers that the move was aborted) and aborts too. No move is half-applied: every member follows
// the one decision in the log, whoever wrote it.
//
// Several members may resolve the same orphan at once: the log keeps the first record, a repeat changes nothing.
// Shared by the Kafka runtime (src/fleet/fleet.ts) and the deterministic simulation (test/sim/member.ts).
import type { CoordinatorMessage } from '../move-protocol.ts';
import type { MoveDecision } from './move-decisions.ts';

export interface OrphanResolverOptions {
  /** This member's name (its own moves are its coordinator's to decide). */
  readonly self: string;
  /** This member's monotonic clock (ms). */
  readonly now: () => number;
  /** Whether a member counts as live on this member (lease + skew margin, or it left). */
  readonly isLive: (member: string) => boolean;
  readonly leaseMs: number;
  readonly skewMarginMs: number;
  /** The coordinator's wait for answers beyond timeoutMs (coordinator.ts REPLY_GRACE_MS). */
  readonly replyGraceMs?: number;
  /** StateStore.abortMove: the route log's decision for the move, after recording an abort unless it committed. */
  readonly abortMove: (moveId: string) => Promise<MoveDecision>;
  /** Hands a decision to this member's participant, as if its coordinator had sent it. */
  readonly deliver: (message: CoordinatorMessage) => void;
}

interface Undecided {
  readonly coordinator: string;
  readonly seenAt: number;
  readonly boundMs: number;
  resolving: boolean;
}

export class OrphanResolver {
  readonly #o: OrphanResolverOptions;
  readonly #undecided = new Map<string, Undecided>();
  /** Moves decided (read or resolved here): a redelivered prepare of one is not an orphan. Bounded. */
  readonly #decided = new Set<string>();
  /** Orphans resolved here, by outcome (metrics, tests). */
  readonly stats = { aborted: 0, committed: 0, failed: 0 };

  constructor(options: OrphanResolverOptions) {
    this.#o = options;
  }

  /** Every coordinator message read from the move log (`from`: the member that wrote it). */
  seen(from: string, message: CoordinatorMessage): void {
    if (message.type === 'prepare') {
      if (from === this.#o.self || this.#undecided.has(message.moveId) || this.#decided.has(message.moveId)) return;
      this.#undecided.set(message.moveId, { coordinator: from, seenAt: this.#o.now(), boundMs: message.timeoutMs + (this.#o.replyGraceMs ?? 1_000), resolving: false });
      if (this.#undecided.size > 10_000) this.#undecided.delete(this.#undecided.keys().next().value as string);
    } else if (message.moveId !== null) {
      this.#decide(message.moveId);
    }
  }

  #decide(moveId: string): void {
    this.#undecided.delete(moveId);
    this.#decided.add(moveId);
    if (this.#decided.size > 10_000) this.#decided.delete(this.#decided.values().next().value as string);
  }

  /** Moves read without a decision yet (diagnostics). */
  get undecided(): number {
    return this.#undecided.size;
  }

  /** Resolves every orphan that is due; call it periodically (each heartbeat or poll). */
  tick(): void {
    const now = this.#o.now();
    const lease = this.#o.leaseMs + this.#o.skewMarginMs;
    for (const [moveId, u] of this.#undecided) {
      if (u.resolving) continue;
      const gone = !this.#o.isLive(u.coordinator);
      // A gone coordinator is already a lease past its last heartbeat; waiting one lease after reading the prepare
      // as well lets a decision it wrote just before dying arrive first (the common case needs no abort record).
      const due = now - u.seenAt >= (gone ? lease : u.boundMs + lease);
      if (!due) continue;
      u.resolving = true;
      this.#o.abortMove(moveId).then(
        (decision) => {
          this.#decide(moveId);
          if (decision.outcome === 'committed') {
            this.stats.committed += 1;
            this.#o.deliver({ type: 'commit', moveId, version: decision.version, changes: decision.changes });
          } else {
            this.stats.aborted += 1;
            this.#o.deliver({ type: 'abort', moveId, reason: `its coordinator ${u.coordinator} is ${gone ? 'gone' : 'silent'}; aborted by ${this.#o.self}` });
          }
        },
        () => {
          u.resolving = false; // the control cluster did not answer: the next tick tries again
          this.stats.failed += 1;
        },
      );
    }
  }
}
