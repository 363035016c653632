// The recovery scan of write-back (partition-copier.ts): copies that landed on the source after the last
// progress kmp knows (a crash between the source's answer and the group commit, an answer lost on the wire, a
// pipeline abandoned after a failure). DescribeProducers gave the last sequence that landed; the copies are the
// batches of kmp's producer id on the source from the known next source offset on, with sequences following the
// known next sequence. Each is paired, in order, with the next data batch of the target (control batches are
// not copied), which yields the progress and sync entries the copier missed.
import { splitBatches, type BatchView } from '../../protocol/record-batch.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { SyncEntry, WriteBackProgress, WriteBackUpdate } from '../../routing/sync-map.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import { PartitionIoError, fetchFrom, type PartitionRef } from './partition-io.ts';

export const SEQUENCE_LIMIT = 2 ** 31;

export interface LandedScan {
  readonly source: ClusterClient;
  readonly target: ClusterClient;
  readonly ref: PartitionRef;
  readonly lane: number;
  readonly fetchMaxBytes: number;
}

/** The updates (one per landed copy, in order) that bring `p` up to what is on the source; empty if none. */
export async function landedCopies(io: LandedScan, p: WriteBackProgress, lastSequence: number): Promise<WriteBackUpdate[]> {
  const where = `${io.ref.topic}[${io.ref.partition}]`;
  const landed: BatchView[] = [];
  let at = p.nextSourceOffset < 0n ? 0n : p.nextSourceOffset;
  let expected = p.nextSequence;
  for (let guard = 0; guard < 10_000; guard++) {
    const f = await fetchFrom(io.source, io.ref, at, io.fetchMaxBytes, io.lane);
    if (f.records === null || f.records.length === 0) break;
    let done = false;
    for (const b of splitBatches(f.records)) {
      if (b.kind !== 'batch') continue;
      at = b.baseOffset + BigInt(b.lastOffsetDelta + 1);
      if (b.producerId !== p.producerId || b.baseSequence !== expected) continue;
      landed.push(b);
      expected = (expected + b.lastOffsetDelta + 1) % SEQUENCE_LIMIT;
      if (b.baseSequence + b.lastOffsetDelta === lastSequence) done = true;
    }
    if (done || at >= f.highWatermark) break;
  }
  const updates: WriteBackUpdate[] = [];
  let cursor = p;
  let t = p.nextTargetOffset;
  const pending = [...landed];
  while (pending.length > 0) {
    const f = await fetchFrom(io.target, io.ref, t, io.fetchMaxBytes, io.lane);
    if (f.records === null || f.records.length === 0) throw new PartitionIoError(`${where}: ${pending.length} copies on the source have no batch left on the target to pair with`, ErrorCode.CORRUPT_MESSAGE);
    for (const b of splitBatches(f.records)) {
      if (b.kind !== 'batch' || pending.length === 0) continue;
      const span = b.lastOffsetDelta + 1;
      if (b.baseOffset + BigInt(span) <= t) continue;
      t = b.baseOffset + BigInt(span);
      if (b.isControl) continue;
      const s = pending.shift() as BatchView;
      if (s.lastOffsetDelta + 1 !== span) throw new PartitionIoError(`${where}: source copy at ${s.baseOffset} does not match target batch at ${b.baseOffset}`, ErrorCode.CORRUPT_MESSAGE);
      cursor = { ...cursor, nextSequence: (s.baseSequence + span) % SEQUENCE_LIMIT, nextTargetOffset: t, nextSourceOffset: s.baseOffset + BigInt(span) };
      const entry: SyncEntry = { sourceOffset: s.baseOffset, targetOffset: b.baseOffset, count: span };
      updates.push({ progress: cursor, entries: [entry] });
    }
  }
  return updates;
}
