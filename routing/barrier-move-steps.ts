// The steps of one cutover move that need no barrier-wide state (cutover-barrier.ts keeps the admission path and
// the counters): the conflict check before a hold, the drain wait with its bound, the afterDrain step, the
// per-partition report and the result. Kept apart so the barrier file reads as hold → drain → commit → release.
import { RouteConflictError } from './errors.ts';
import { inDoubtMessage, type ActiveMove, type DrainEnd, type PartitionState, type TopicState } from './barrier-state.ts';
import type { ActiveMoveInfo, AfterDrain, MoveResult, MoveTimings, PartitionReport } from './move-spec.ts';

/** Throws RouteConflictError (409) when `move` touches a topic another running move holds or will hold. */
export function checkConflicts(moves: Iterable<ActiveMove>, move: ActiveMove): void {
  for (const active of moves) {
    const clash =
      [...move.explicit].find((name) => active.wants(name)) ??
      [...active.claimed].find((ts) => move.wants(ts.name))?.name ??
      [...active.explicit].find((name) => move.wants(name));
    if (clash !== undefined) {
      throw new RouteConflictError(
        `${move.label} conflicts with ${active.label}, which is running on topic "${clash}"; wait for it to finish and retry`,
      );
    }
  }
}

/**
 * Step 2 (and 5, 7 of the barrier's header): resolves when every ticket admitted before the hold completed
 * ('drained'), or first with why not: a write in doubt (inDoubt 'abort'), the caller's signal, or the bound.
 * The barrier's settle path ends it early through `move.finishDrain`.
 */
export function drain(move: ActiveMove, schedule: (callback: () => void, delayMs: number) => () => void): Promise<DrainEnd> {
  return new Promise<DrainEnd>((resolve) => {
    let cancelTimer: (() => void) | undefined;
    const signal = move.spec.signal;
    const onAbort = (): void => finish('cancelled');
    const finish = (end: DrainEnd): void => {
      move.finishDrain = () => undefined;
      cancelTimer?.();
      signal?.removeEventListener('abort', onAbort);
      resolve(end);
    };
    move.finishDrain = finish;
    if (move.inDoubtPolicy === 'abort') {
      const doubtful = firstInDoubt(move);
      if (doubtful !== null) {
        move.inDoubtMessage = inDoubtMessage(move, doubtful.ts, doubtful.ps, doubtful.ps.lastUnknownCode);
        finish('in-doubt');
        return;
      }
    }
    if (signal?.aborted === true) {
      finish('cancelled');
      return;
    }
    if (move.pending === 0) {
      finish('drained');
      return;
    }
    cancelTimer = schedule(() => finish('timeout'), move.spec.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function firstInDoubt(move: ActiveMove): { ts: TopicState; ps: PartitionState } | null {
  for (const ts of move.claimed) for (const ps of ts.partitions.values()) if (ps.inDoubtInMove) return { ts, ps };
  return null;
}

/**
 * The optional step after a drain (write-back's copy tail on a rollback), within what is left of the move's
 * bound (at least 1 ms). Null when it is done; otherwise the message that aborts the move.
 */
export async function runAfterDrain(afterDrain: AfterDrain, move: ActiveMove, remainingMs: number): Promise<string | null> {
  const spec = move.spec;
  const timeoutMs = Math.max(1, remainingMs);
  const topics = [...move.claimed].map((ts) => ts.name);
  return afterDrain({ from: spec.from, to: spec.to, topics, timeoutMs, ...(spec.signal !== undefined ? { signal: spec.signal } : {}) }).catch(
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
}

/**
 * Step 3: per partition of every claimed topic, the last offset the old cluster acknowledged and whether its
 * drain failed or is in doubt. Partitions the cluster lists but this proxy never saw are created through
 * `partitionOf` so they are reported (and held to the same rules) too.
 */
export function partitionReports(move: ActiveMove, partitionOf: (ts: TopicState, partition: number) => PartitionState): PartitionReport[] {
  const out: PartitionReport[] = [];
  for (const ts of move.claimed) {
    let listed: readonly number[] | 'unknown';
    try {
      listed = move.spec.partitionsOf(ts.name);
    } catch {
      listed = 'unknown'; // the report then lists the partitions this proxy has seen
    }
    const numbers = new Set<number>(ts.partitions.keys());
    if (listed !== 'unknown') for (const p of listed) numbers.add(p);
    for (const partition of [...numbers].sort((a, b) => a - b)) {
      const ps = partitionOf(ts, partition);
      out.push({
        topic: ts.name,
        partition,
        lastOffsetOnOld: ps.lastOffset,
        failedDrain: ps.failedInMove || (ps.inDoubtInMove && move.inDoubtPolicy === 'reject'),
        inDoubt: ps.inDoubtInMove,
      });
    }
  }
  return out;
}

export function moveResult(move: ActiveMove, abort: MoveResult['abort'], partitions: readonly PartitionReport[], timings: MoveTimings): MoveResult {
  return {
    outcome: abort === null ? 'committed' : 'aborted',
    abort,
    from: move.spec.from,
    to: move.spec.to,
    topics: [...move.claimed].map((ts) => ts.name),
    partitions,
    timings,
    heldRequests: move.heldTotal,
    rejectedRequests: move.rejected,
  };
}

/** What the admin API shows of a running move. */
export function moveInfo(m: ActiveMove): ActiveMoveInfo {
  return {
    label: m.label,
    from: m.spec.from,
    to: m.spec.to,
    topics: [...m.claimed].map((ts) => ts.name),
    phase: m.phase,
    heldNow: m.held.length,
    inFlight: m.pending,
  };
}
