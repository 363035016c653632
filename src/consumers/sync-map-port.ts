// What consumer moves need from the write-back's sync map (routing/sync-map.ts provides it; the composition in
// serve.ts passes it in). One entry per batch the write-back copied from the target into the source: source
// offsets [sourceOffset, sourceOffset + count) hold the same records, in the same order, as target offsets
// [targetOffset, targetOffset + count). That is the exact translation between the two logs of a moved partition.

export interface SyncMapEntry {
  readonly sourceOffset: bigint;
  readonly targetOffset: bigint;
  readonly count: number;
}

export interface SyncMapPort {
  /** Every copied batch of the partition, ascending by offset (on both sides: the copy keeps the target's order). */
  entries(topic: string, partition: number): readonly SyncMapEntry[];
  /** The target offset of the record at `sourceOffset`, or null when that record was not copied. */
  translateToTarget(topic: string, partition: number, sourceOffset: bigint): bigint | null;
  /** The source offset of the record at `targetOffset`, or null when that record was not copied (yet). */
  translateToSource(topic: string, partition: number, targetOffset: bigint): bigint | null;
}

/** No write-back wired (or none yet): nothing is copied, so no group can be placed on the other cluster exactly. */
export const EMPTY_SYNC_MAP: SyncMapPort = {
  entries: () => [],
  translateToTarget: () => null,
  translateToSource: () => null,
};
