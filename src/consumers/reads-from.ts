// Which cluster a consumer group reads a wave's topics from: the one where it has members, or, for a stopped
// group, the one where its committed offsets are further along. A group that was moved keeps its old offsets
// on the cluster it left (kmp never deletes them, so a move back stays possible); they stop advancing there.
// Pure, so that `kmp consumers` and the promotion gate agree, and unit tests cover every case.
import type { SyncMapEntry } from './sync-map-port.ts';
import type { MoveDirection } from './offset-translation.ts';

export type ReadsFrom = 'source' | 'target' | 'both' | 'unknown';

export interface ReadsFromInput {
  readonly sourceActive: boolean;
  readonly targetActive: boolean;
  /** Committed offsets per "topic\0partition" on each cluster (wave topics only). */
  readonly source: ReadonlyMap<string, bigint>;
  readonly target: ReadonlyMap<string, bigint>;
  readonly entries: (key: string) => readonly SyncMapEntry[];
  /** The newest recorded move of the group, to settle a tie (offsets equal right after a move). */
  readonly lastMove: MoveDirection | null;
}

export function readsFrom(input: ReadsFromInput): ReadsFrom {
  if (input.sourceActive && input.targetActive) return 'both';
  if (input.sourceActive) return 'source';
  if (input.targetActive) return 'target';
  let source = 0;
  let target = 0;
  let unknown = 0;
  for (const key of new Set([...input.source.keys(), ...input.target.keys()])) {
    const s = input.source.get(key);
    const t = input.target.get(key);
    if (t === undefined) source++;
    else if (s === undefined) target++;
    else {
      const onSource = targetToSource(input.entries(key), t);
      if (onSource === null) unknown++;
      else if (s > onSource) source++;
      else if (s < onSource) target++;
    }
  }
  if (source > 0 && target > 0) return 'unknown';
  if (source > 0) return 'source';
  if (target > 0) return 'target';
  if (unknown > 0) return 'unknown';
  // Equal everywhere: the group was just moved and has not consumed since.
  return input.lastMove === 'to-target' ? 'target' : 'source';
}

/** The source offset of target offset `t` when it is a copied record or the end of a copied batch; else null. */
export function targetToSource(entries: readonly SyncMapEntry[], t: bigint): bigint | null {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    const end = e.targetOffset + BigInt(e.count);
    if (t >= e.targetOffset && t <= end) return e.sourceOffset + (t - e.targetOffset);
    if (end < t) return null;
  }
  return null;
}
