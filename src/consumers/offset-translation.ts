// Where a group that stopped at offset `committed` on one cluster must resume on the other one, so that it reads
// every remaining record exactly once. Pure: the sync map entries, the committed offset and both log ends in,
// a placement out. docs/migration-runbook.md ("Moving consumer groups") explains the rules to operators.
//
// Orientation: "from" is the cluster the group stopped on, "to" the one it restarts on. An entry says that
// from-offsets [from, from + count) are to-offsets [to, to + count).
//
// The group reads the rest of its partition on the to side, so every record it has not read yet must be there:
// the whole from-side tail [committed, log end) must consist of copies. The current segment is the longest run
// of copied batches, back-to-back on the from side, that ends at the from side's log end.
//   1. `committed` inside the current segment: the group resumes at the copy of its next record.
//   2. `committed` before it: records that were never copied (written before the flip, or straight to the
//      source during a rollback) lie ahead of the group; it must read them where they are first. Not ready,
//      with the number of offsets to go (to the start of the current segment).
//   3. `committed` = log end: the group has read everything on its side; it resumes right after the last copy,
//      so what the to side holds after it (records not copied yet, or written there after a rollback) is
//      exactly what it has not seen.
//   4. Nothing copied at all and `committed` = log end: exact only if the to side is empty (offset 0);
//      otherwise kmp cannot know which of the to side's records the group has seen.
import type { SyncMapEntry } from './sync-map-port.ts';
import type { Cluster } from '../../routing/cluster.ts';

export type MoveDirection = 'to-target' | 'to-source';

export const MOVE_DIRECTIONS: readonly MoveDirection[] = ['to-target', 'to-source'];

export function clustersOf(direction: MoveDirection): { readonly from: Cluster; readonly to: Cluster } {
  return direction === 'to-target' ? { from: 'source', to: 'target' } : { from: 'target', to: 'source' };
}

export type Placement =
  | { readonly kind: 'exact'; readonly offset: bigint; readonly rule: 'copied-record' | 'after-last-copy' | 'both-empty' }
  | {
    readonly kind: 'not-ready';
    /** Offsets the group must still read on the from side; null when no amount would make it ready. */
    readonly recordsToGo: bigint | null;
    readonly reason: string;
  };

export interface PlacementInput {
  /** The partition's sync map entries, ascending. */
  readonly entries: readonly SyncMapEntry[];
  readonly direction: MoveDirection;
  /** The group's committed offset on the from side (the next record it would read); >= 0. */
  readonly committed: bigint;
  /** Log end offset (high watermark) of the partition on each side. */
  readonly fromEnd: bigint;
  readonly toEnd: bigint;
}

interface Oriented {
  readonly from: bigint;
  readonly to: bigint;
  readonly count: bigint;
}

export function placeOffset(input: PlacementInput): Placement {
  const { from: fromName, to: toName } = clustersOf(input.direction);
  const c = input.committed;
  if (c < 0n) throw new RangeError(`committed offset must be >= 0, got ${c}`);
  if (c > input.fromEnd) {
    return {
      kind: 'not-ready',
      recordsToGo: null,
      reason: `the committed offset ${c} is past the ${fromName}'s log end ${input.fromEnd} (the log was truncated or recreated)`,
    };
  }
  const entries: Oriented[] = input.entries.map((e) => input.direction === 'to-target'
    ? { from: e.sourceOffset, to: e.targetOffset, count: BigInt(e.count) }
    : { from: e.targetOffset, to: e.sourceOffset, count: BigInt(e.count) });
  const last = entries.at(-1);
  if (c === input.fromEnd) {
    if (last !== undefined) return { kind: 'exact', offset: last.to + last.count, rule: 'after-last-copy' };
    if (input.toEnd === 0n) return { kind: 'exact', offset: 0n, rule: 'both-empty' };
    return {
      kind: 'not-ready',
      recordsToGo: null,
      reason: `nothing of this partition has been copied yet and the ${toName} already holds ${input.toEnd} records: no exact position exists until the write-back copies a batch`,
    };
  }
  const segmentStart = currentSegmentStart(entries, input.fromEnd);
  if (c < segmentStart) {
    const toGo = segmentStart - c;
    return {
      kind: 'not-ready',
      recordsToGo: toGo,
      reason: `${toGo} records to go: offsets ${c}..${segmentStart - 1n} on the ${fromName} are not all on the ${toName}; the group must read them on the ${fromName} first`,
    };
  }
  const containing = entries[lastAtOrBefore(entries, c)];
  return { kind: 'exact', offset: containing.to + (c - containing.from), rule: 'copied-record' };
}

/**
 * The first from-offset of the run of back-to-back copies that ends at the log end; the log end itself when
 * the last records on the from side were not copied.
 */
function currentSegmentStart(entries: readonly Oriented[], fromEnd: bigint): bigint {
  let start = fromEnd;
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e.from + e.count !== start) break;
    start = e.from;
  }
  return start;
}

/** Index of the last entry with from <= offset, or -1. */
function lastAtOrBefore(entries: readonly Oriented[], offset: bigint): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid].from <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
