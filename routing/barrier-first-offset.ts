// The first offset a moved partition got on its new cluster (the ledger's firstOffsetOnNew; FirstOffsetWatch in
// barrier-state.ts): the lowest base offset among the tickets admitted before the generation's first successful
// answer; tickets admitted later were sent after it and appended after it, so once those are settled it is final.
import type { Cluster } from './cluster.ts';
import type { CutoverTicket } from './barrier-state.ts';

/** Called for every settled ticket before its in-flight count is released; `offset` null if it wrote nothing. */
export function watchFirstOffset(t: CutoverTicket, offset: bigint | null): void {
  const ps = t.partitionState;
  const w = ps.firstOffsetWatch;
  if (w === null) return;
  const ofThisGeneration = offset !== null && t.generation === w.generation;
  if (w.horizon === null) {
    if (!ofThisGeneration) return;
    w.min = offset;
    w.cluster = t.cluster;
    w.horizon = ps.admitted;
    w.pending = ps.inFlight - 1; // every other ticket in flight now was admitted before this answer
  } else {
    if (t.serial >= w.horizon) return;
    w.pending -= 1;
    if (ofThisGeneration && offset < (w.min as bigint)) w.min = offset;
  }
  if (w.pending > 0) return;
  ps.firstOffsetWatch = null;
  try {
    w.notify({ topic: t.topic, partition: t.partition, generation: w.generation, cluster: w.cluster as Cluster, offset: w.min as bigint });
  } catch {
    // A ledger callback must never break the data path.
  }
}
