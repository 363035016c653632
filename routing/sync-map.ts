// The sync map: for every partition kmp copies from the target back to the source (write-back, src/writeback/),
// which source offsets hold which target offsets. One entry per copied batch — (source offset, target offset,
// count) — with adjacent entries merged when both sides continue without a gap, so a segment that kmp copied
// alone (the usual case: while a wave is on the target nobody else writes its source partitions) is one entry.
// It is the exact offset translation a consumer group needs to move between the clusters (MirrorMaker 2's offset
// syncs are approximate; see docs/migration-runbook.md).
//
// Pure data: no I/O. Persisted through the StateStore as WriteBackUpdate records (O(change): each carries the
// partition's progress and only the entries added since the last one); a store folds them on compaction
// (toUpdates()), and replaying an update twice is harmless (entries below what is known are skipped).
//
// Offsets are half-open: an entry covers source [sourceOffset, sourceOffset + count) and the same count of target
// offsets from targetOffset. `count` is the batch's offset span (lastOffsetDelta + 1), which equals its record
// count for batches a producer wrote.

/** One copied run: source offsets [sourceOffset, sourceOffset + count) hold target [targetOffset, targetOffset + count). */
export interface SyncEntry {
  readonly sourceOffset: bigint;
  readonly targetOffset: bigint;
  readonly count: number;
}

/** Where the copy of one partition stands, and the kmp-owned idempotent producer that writes it on the source. */
export interface WriteBackProgress {
  readonly topic: string;
  readonly partition: number;
  /** kmp's producer id for this partition on the source (InitProducerId there), and its epoch. */
  readonly producerId: bigint;
  readonly producerEpoch: number;
  /** The baseSequence of the next batch kmp writes under that producer. */
  readonly nextSequence: number;
  /** The next target offset to copy: everything below it (from the segment start) is on the source. */
  readonly nextTargetOffset: bigint;
  /** The source offset after the last copy (where a recovery scan starts); -1 before the first copy. */
  readonly nextSourceOffset: bigint;
  /** Target offset where the current segment (one stay on the target) began; null when no segment is open. */
  readonly segmentStart: bigint | null;
}

/** One persisted change: a partition's progress plus the entries added since its previous update. */
export interface WriteBackUpdate {
  readonly progress: WriteBackProgress;
  readonly entries: readonly SyncEntry[];
  /** Folded records only: every segment start known for the partition, ascending. */
  readonly segments?: readonly bigint[];
}

/** The current segment's copied range, half-open on both sides. */
export interface CopiedRange {
  /** Where the segment began on the target and how far the copy got (next target offset to copy). */
  readonly targetFrom: bigint;
  readonly targetTo: bigint;
  /** The source offsets of the copies: first copy's offset (or null before the first one) up to the next free one. */
  readonly sourceFrom: bigint | null;
  readonly sourceTo: bigint | null;
  /** True while the partition is on the target and the copy is running. */
  readonly open: boolean;
}

interface PartitionSync {
  progress: WriteBackProgress;
  readonly entries: SyncEntry[];
  readonly segments: bigint[];
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

const NONE: readonly SyncEntry[] = Object.freeze([]);

export class SyncMap {
  readonly #parts = new Map<string, PartitionSync>();

  /** Applies one update (from the copy, or replayed from the store). */
  apply(update: WriteBackUpdate): void {
    const { progress } = update;
    const k = key(progress.topic, progress.partition);
    let p = this.#parts.get(k);
    if (p === undefined) this.#parts.set(k, (p = { progress, entries: [], segments: [] }));
    p.progress = progress;
    for (const s of update.segments ?? []) addSegment(p.segments, s);
    if (progress.segmentStart !== null) addSegment(p.segments, progress.segmentStart);
    for (const e of update.entries) addEntry(p.entries, e);
  }

  /** Every copied run of the partition, ascending (by both offsets). */
  entries(topic: string, partition: number): readonly SyncEntry[] {
    return this.#parts.get(key(topic, partition))?.entries ?? NONE;
  }

  progress(topic: string, partition: number): WriteBackProgress | null {
    return this.#parts.get(key(topic, partition))?.progress ?? null;
  }

  /** Every partition with write-back state. */
  *partitions(): Generator<WriteBackProgress> {
    for (const p of this.#parts.values()) yield p.progress;
  }

  /**
   * The target offset holding the record at `sourceOffset`, or null when that source offset is not a copy.
   * A consumer position (the next offset to read) at the end of a run translates to the end of the run on the
   * target, so a group that read every copied record moves to exactly where the target continues.
   */
  translateToTarget(topic: string, partition: number, sourceOffset: bigint): bigint | null {
    return translate(this.entries(topic, partition), sourceOffset, 'sourceOffset', 'targetOffset');
  }

  /** The source offset holding the copy of the target record at `targetOffset` (positions: as translateToTarget). */
  translateToSource(topic: string, partition: number, targetOffset: bigint): bigint | null {
    return translate(this.entries(topic, partition), targetOffset, 'targetOffset', 'sourceOffset');
  }

  /** The current (last) segment's copied range, or null if the partition was never copied. */
  copiedRange(topic: string, partition: number): CopiedRange | null {
    const p = this.#parts.get(key(topic, partition));
    if (p === undefined || p.segments.length === 0) return null;
    const targetFrom = p.segments[p.segments.length - 1];
    const targetTo = p.progress.nextTargetOffset;
    const sourceFrom = this.translateToSource(topic, partition, targetFrom);
    const sourceTo = targetTo > targetFrom ? this.translateToSource(topic, partition, targetTo) : sourceFrom;
    return { targetFrom, targetTo, sourceFrom, sourceTo, open: p.progress.segmentStart !== null };
  }

  /** One folded update per partition (what a compaction writes). */
  toUpdates(): WriteBackUpdate[] {
    return [...this.#parts.values()].map((p) => ({ progress: p.progress, entries: [...p.entries], segments: [...p.segments] }));
  }
}

function addSegment(segments: bigint[], start: bigint): void {
  const last = segments[segments.length - 1];
  if (last === undefined || start > last) segments.push(start);
}

/** Appends in order, merging with the last run when both sides continue it; skips what is already covered. */
function addEntry(entries: SyncEntry[], e: SyncEntry): void {
  if (!(e.count > 0)) return;
  const last = entries[entries.length - 1];
  if (last === undefined) {
    entries.push({ ...e });
    return;
  }
  const lastTargetEnd = last.targetOffset + BigInt(last.count);
  if (e.targetOffset < lastTargetEnd) return; // replayed: already known
  if (e.targetOffset === lastTargetEnd && e.sourceOffset === last.sourceOffset + BigInt(last.count)) {
    entries[entries.length - 1] = { sourceOffset: last.sourceOffset, targetOffset: last.targetOffset, count: last.count + e.count };
    return;
  }
  entries.push({ ...e });
}

function translate(entries: readonly SyncEntry[], offset: bigint, from: 'sourceOffset' | 'targetOffset', to: 'sourceOffset' | 'targetOffset'): bigint | null {
  // Entries are ascending on both sides: binary search for the last entry starting at or before `offset`.
  let lo = 0;
  let hi = entries.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid][from] <= offset) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found === -1) return null;
  const e = entries[found];
  const delta = offset - e[from];
  // delta === count: the position right after the run (a consumer that read all of it).
  if (delta > BigInt(e.count)) return null;
  return e[to] + delta;
}
