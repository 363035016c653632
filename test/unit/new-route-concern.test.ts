// The fleet's new-route check on the Produce path (src/fleet/new-route-concern.ts): DescribeProducers on the old
// cluster decides whether a client's batch on the new route is a retry of one the old cluster already appended.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { readBatchHeaders, type BatchView } from '../../protocol/record-batch.ts';
import type { Cluster } from '../../routing/cluster.ts';
import type { ProducerMapping } from '../../routing/state-store.ts';
import { NewRouteConcern } from '../../src/fleet/new-route-concern.ts';
import { PartitionWrite } from '../../src/proxy/produce/partition-write.ts';
import { ProducerIdMap } from '../../src/proxy/producer-id-map.ts';
import { SequenceGuard } from '../../src/proxy/sequence-guard.ts';
import type { ClusterClient } from '../../src/upstream/cluster-client.ts';
import { buildBatch } from '../support/build-batch.ts';

interface Described {
  readonly cluster: Cluster;
  readonly topic: string;
}

/** A cluster client with one broker that answers DescribeProducers with `producers` (what the tests need of it). */
function fakeCluster(cluster: Cluster, producers: () => { producerId: bigint; producerEpoch: number; lastSequence: number }[], asked: Described[]): ClusterClient {
  const conn = {
    send: async (_api: number, _version: number, body: { topics: { name: string; partitionIndexes: number[] }[] }) => {
      const t = body.topics[0]!;
      asked.push({ cluster, topic: t.name });
      return {
        throttleTimeMs: 0,
        topics: [{
          name: t.name,
          partitions: [{ partitionIndex: t.partitionIndexes[0]!, errorCode: ErrorCode.NONE, errorMessage: null,
            activeProducers: producers().map((p) => ({ ...p, lastTimestamp: -1n, coordinatorEpoch: -1, currentTxnStartOffset: -1n })) }],
        }],
      };
    },
  };
  const client = {
    name: cluster,
    cachedTopic: () => ({ errorCode: ErrorCode.NONE, partitions: [{ partition: 0, leaderId: 1 }] }),
    topic: async () => ({ errorCode: ErrorCode.NONE, partitions: [{ partition: 0, leaderId: 1 }] }),
    refreshSoon: () => undefined,
    liveConnection: () => conn,
    connection: async () => conn,
  };
  // The concern uses only these members of a ClusterClient (through writeback/partition-io.ts leaderConnection).
  return client as unknown as ClusterClient;
}

function write(producerId: bigint, baseSequence: number, records = 1): PartitionWrite {
  const buf = buildBatch({ producerId, producerEpoch: 0, baseSequence, records: Array.from({ length: records }, (_, i) => ({ value: `v${i}` })) });
  const w = new PartitionWrite('orders', 0, buf);
  w.batches = readBatchHeaders(buf) as BatchView[];
  w.offsetSpan = records;
  return w;
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

function setup(opts: { source: () => { producerId: bigint; producerEpoch: number; lastSequence: number }[]; mappings?: ProducerMapping[] }) {
  const asked: Described[] = [];
  const sequences = new SequenceGuard();
  const producerIds = new ProducerIdMap({ defaultCluster: 'source', allocate: async () => ({ producerId: 1n, producerEpoch: 0 }) });
  const concern = new NewRouteConcern({
    clusters: { source: fakeCluster('source', opts.source, asked), target: fakeCluster('target', () => [], asked) },
    producerIds,
    sequences,
    routeOf: () => ({ cluster: 'target', generation: 3 }),
    mappingsOf: (pid, epoch, cluster) => (opts.mappings ?? []).filter((m) => m.clientProducerId === pid && m.clientEpoch === epoch && m.cluster === cluster),
  });
  return { concern, asked, sequences };
}

describe('NewRouteConcern', () => {
  it('a producer\'s later batch waits behind its earlier one that was answered wait (no sequence gap upstream)', async () => {
    const { concern } = setup({ source: () => [{ producerId: 42n, producerEpoch: 0, lastSequence: 4 }] });
    assert.equal(concern.refuse(write(42n, 5))?.errorCode, ErrorCode.NOT_ENOUGH_REPLICAS, 'batch 5: the old state is not loaded yet');
    await settle();
    assert.equal(concern.refuse(write(42n, 6))?.errorCode, ErrorCode.NOT_ENOUGH_REPLICAS, 'batch 6 arrives after the load: it must not overtake 5');
    assert.equal(concern.refuse(write(42n, 5)), null, 'batch 5 again: forwarded (the old cluster has only up to 4)');
    assert.equal(concern.refuse(write(42n, 6)), null, 'then 6');
    assert.equal(concern.refuse(write(7n, 0)), null, 'another producer is not held back');
  });

  it('a retry of a batch the old cluster appended under the client\'s own pid is answered as written, and the sequence guard moves past it', async () => {
    const { concern, asked, sequences } = setup({ source: () => [{ producerId: 42n, producerEpoch: 0, lastSequence: 5 }] });
    const first = concern.refuse(write(42n, 5));
    assert.equal(first?.errorCode, ErrorCode.NOT_ENOUGH_REPLICAS, 'waits (retriable) until the old cluster answered');
    await settle();
    assert.deepEqual(asked, [{ cluster: 'source', topic: 'orders' }]);
    const retry = concern.refuse(write(42n, 5));
    assert.equal(retry?.errorCode, ErrorCode.NONE, 'answered as written');
    assert.equal(sequences.next(SequenceGuard.key(42n, 0, 'orders', 0)), 6);
    assert.equal(concern.refuse(write(42n, 6)), null, 'the next batch is forwarded');
    assert.equal(asked.length, 1, 'one DescribeProducers per partition');
  });

  it('looks the client up under the upstream pids the fleet mapped it to on the old cluster (any generation), epoch included', async () => {
    const mappings: ProducerMapping[] = [{ clientProducerId: 7n, clientEpoch: 0, cluster: 'source', generation: 2, upstreamProducerId: 900n, upstreamEpoch: 0 }];
    const { concern } = setup({ source: () => [{ producerId: 900n, producerEpoch: 0, lastSequence: 12 }, { producerId: 7n, producerEpoch: 0, lastSequence: 99 }], mappings });
    // 7 was issued by the source (the default cluster), so the client's own pid there counts as well as 900.
    concern.refuse(write(7n, 10, 3));
    await settle();
    assert.equal(concern.refuse(write(7n, 10, 3))?.errorCode, ErrorCode.NONE);
    const other = setup({ source: () => [{ producerId: 900n, producerEpoch: 0, lastSequence: 12 }], mappings });
    other.concern.refuse(write(7n, 10, 3));
    await settle();
    assert.equal(other.concern.refuse(write(7n, 10, 3))?.errorCode, ErrorCode.NONE, 'sequences 10..12 are on the source under pid 900');
    assert.equal(other.concern.refuse(write(7n, 12, 2)), null, 'a batch reaching past the old cluster\'s last sequence is forwarded');
    const wrongEpoch = setup({ source: () => [{ producerId: 900n, producerEpoch: 1, lastSequence: 12 }], mappings });
    wrongEpoch.concern.refuse(write(7n, 10, 3));
    await settle();
    assert.equal(wrongEpoch.concern.refuse(write(7n, 10, 3)), null, 'another epoch of the upstream pid is not this client');
  });

  it('leaves transactional batches and batches without a producer alone', () => {
    const { concern, asked } = setup({ source: () => [] });
    const plain = new PartitionWrite('orders', 0, buildBatch({ records: [{ value: 'x' }] }));
    plain.batches = readBatchHeaders(plain.records!) as BatchView[];
    assert.equal(concern.refuse(plain), null);
    const txn = new PartitionWrite('orders', 0, buildBatch({ producerId: 5n, producerEpoch: 0, baseSequence: 0, attributes: 0x10, records: [{ value: 'x' }] }));
    txn.batches = readBatchHeaders(txn.records!) as BatchView[];
    assert.equal(concern.refuse(txn), null);
    assert.equal(asked.length, 0);
  });
});
