// The recovery scan of write-back (src/writeback/landed-copies.ts) against two fake partitions: copies of kmp's
// producer that landed on the source beyond the known progress are found (other producers' batches ignored) and
// paired in order with the target's data batches (control batches skipped), giving the progress and sync entries
// the copier missed; a copy whose size does not match its target batch is an error, not a guess.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiKey } from '../../protocol/messages/index.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { landedCopies } from '../../src/writeback/landed-copies.ts';
import type { WriteBackProgress } from '../../routing/sync-map.ts';
import type { ClusterClient } from '../../src/upstream/cluster-client.ts';
import { buildBatch } from '../support/build-batch.ts';

const TOPIC = 'orders';
const KMP_PID = 42n;

function records(n: number, tag: string): { value: string }[] {
  return Array.from({ length: n }, (_, i) => ({ value: `${tag}-${i}` }));
}

/** One partition served by Fetch: the batches whose last offset is at or past the fetch offset, back to back. */
function fakeCluster(name: string, log: Buffer[]): ClusterClient {
  const end = (b: Buffer): bigint => b.readBigInt64BE(0) + BigInt(b.readInt32BE(23)) + 1n;
  const highWatermark = log.length === 0 ? 0n : end(log[log.length - 1]);
  const conn = {
    versions: new Map([[ApiKey.Fetch, { min: 4, max: 12 }]]),
    send: async (_api: number, _version: number, body: { topics: { partitions: { fetchOffset: bigint }[] }[] }) => {
      const from = body.topics[0].partitions[0].fetchOffset;
      const batches = log.filter((b) => end(b) > from);
      return { errorCode: ErrorCode.NONE, responses: [{ partitions: [{ errorCode: ErrorCode.NONE, records: batches.length === 0 ? null : Buffer.concat(batches), highWatermark, logStartOffset: 0n }] }] };
    },
  };
  const fake = {
    name,
    cachedTopic: () => ({ name: TOPIC, errorCode: ErrorCode.NONE, partitions: [{ partition: 0, leaderId: 1 }] }),
    liveConnection: () => conn,
    refreshSoon: () => undefined,
  };
  // Only what fetchFrom touches (leaderConnection + BrokerConnection.send for Fetch) is faked.
  return fake as unknown as ClusterClient;
}

const progress: WriteBackProgress = { topic: TOPIC, partition: 0, producerId: KMP_PID, producerEpoch: 0, nextSequence: 10, nextTargetOffset: 100n, nextSourceOffset: 2n, segmentStart: 90n };

function io(source: Buffer[], target: Buffer[]) {
  return { source: fakeCluster('source', source), target: fakeCluster('target', target), ref: { topic: TOPIC, partition: 0 }, lane: 0, fetchMaxBytes: 1 << 20 };
}

const sourceLog = [
  buildBatch({ baseOffset: 0n, producerId: 7n, producerEpoch: 0, baseSequence: 0, records: records(2, 'other') }),
  buildBatch({ baseOffset: 2n, producerId: KMP_PID, producerEpoch: 0, baseSequence: 10, records: records(3, 'a') }),
  buildBatch({ baseOffset: 5n, producerId: KMP_PID, producerEpoch: 0, baseSequence: 13, records: records(2, 'b') }),
];
const targetLog = [
  buildBatch({ baseOffset: 100n, producerId: 9n, producerEpoch: 0, baseSequence: 0, records: records(3, 'a') }),
  // A transaction marker (control + transactional bits): not data, never copied.
  buildBatch({ baseOffset: 103n, attributes: 0x30, producerId: 8n, producerEpoch: 0, baseSequence: -1, records: [{ key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }] }),
  buildBatch({ baseOffset: 104n, producerId: 9n, producerEpoch: 0, baseSequence: 3, records: records(2, 'b') }),
  buildBatch({ baseOffset: 106n, producerId: 9n, producerEpoch: 0, baseSequence: 5, records: records(4, 'not copied yet') }),
];

describe('write-back: copies that landed beyond the known progress', () => {
  it('are paired in order with the target data batches, skipping control batches', async () => {
    const updates = await landedCopies(io(sourceLog, targetLog), progress, 14);
    assert.deepEqual(updates.map((u) => u.entries), [[{ sourceOffset: 2n, targetOffset: 100n, count: 3 }], [{ sourceOffset: 5n, targetOffset: 104n, count: 2 }]]);
    const last = updates[1].progress;
    assert.equal(last.nextSequence, 15);
    assert.equal(last.nextTargetOffset, 106n, 'the next target batch to copy is the one after the last landed copy');
    assert.equal(last.nextSourceOffset, 7n);
    assert.equal(updates[0].progress.nextTargetOffset, 103n);
  });

  it('adopts a copy that landed after DescribeProducers answered (a late answer of an abandoned pipeline): it is on the source', async () => {
    const updates = await landedCopies(io(sourceLog, targetLog), progress, 12);
    assert.equal(updates.length, 2);
    assert.equal(updates[1].progress.nextSequence, 15);
  });

  it('finds nothing when no copy of kmp follows the known sequence', async () => {
    assert.deepEqual(await landedCopies(io(sourceLog, targetLog), { ...progress, nextSequence: 20 }, 14), []);
  });

  it('refuses to pair a copy with a target batch of another size', async () => {
    const other = [buildBatch({ baseOffset: 100n, producerId: 9n, producerEpoch: 0, baseSequence: 0, records: records(4, 'x') })];
    await assert.rejects(landedCopies(io(sourceLog, other), progress, 14), /source copy at 2 does not match target batch at 100/);
  });
});
