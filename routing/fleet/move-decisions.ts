// Which moves the route log decided, and how: the rule that lets any member abort a move whose coordinator died
// between prepare and decision (orphan-resolver.ts) without ever half-applying it.
//
// A move is decided by the first of two records in the route log: its commit (a StateCommit naming the move) or
// an abort record for it (`move-aborted`, written by any member). Every member applies the log in order with this
// rule, so all agree on the one decision: a commit of a move already aborted is skipped (its coordinator learns
// that the compare-and-set failed and aborts), an abort of a move already committed changes nothing (whoever
// wrote it installs the commit instead). The log's single partition gives the order, as for compare-and-set.
import type { RouteChange } from '../route-state.ts';

export interface CommittedMove {
  readonly version: number;
  readonly changes: readonly RouteChange[];
}

export type MoveDecision = { readonly outcome: 'aborted' } | ({ readonly outcome: 'committed' } & CommittedMove);

/** Bounded: decisions matter while a move can still be redelivered or resolved, not forever. */
const MAX_REMEMBERED = 10_000;

export class MoveDecisions {
  readonly #committed = new Map<string, CommittedMove>();
  readonly #aborted = new Set<string>();

  /** Whether a commit naming `moveId` (or no move) applies on top of what the log decided so far. */
  commitApplies(moveId: string | null | undefined): boolean {
    return moveId === null || moveId === undefined || !this.#aborted.has(moveId);
  }

  /** An applied commit of a move. */
  noteCommit(moveId: string, move: CommittedMove): void {
    this.#committed.set(moveId, move);
    if (this.#committed.size > MAX_REMEMBERED) this.#committed.delete(this.#committed.keys().next().value as string);
  }

  /** An abort record: applies unless the move committed first. Returns the decision it leaves. */
  noteAbort(moveId: string): MoveDecision {
    const committed = this.#committed.get(moveId);
    if (committed !== undefined) return { outcome: 'committed', ...committed };
    this.#aborted.add(moveId);
    if (this.#aborted.size > MAX_REMEMBERED) this.#aborted.delete(this.#aborted.values().next().value as string);
    return { outcome: 'aborted' };
  }

  /** The decision the log holds for a move so far, or null. */
  decision(moveId: string): MoveDecision | null {
    const committed = this.#committed.get(moveId);
    if (committed !== undefined) return { outcome: 'committed', ...committed };
    return this.#aborted.has(moveId) ? { outcome: 'aborted' } : null;
  }
}
