// src/proxy/warm-up.ts, recent-producers.ts and move-error-concern.ts against fake upstream clusters: what the
// warm-up makes ready (fresh metadata, every leader × lane, producer ids for the generation the move creates,
// which the first released batch then finds without waiting), and why it fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { Cluster } from '../../routing/cluster.ts';
import { MoveErrorWatch } from '../../routing/move-errors.ts';
import { moveErrorConcern } from '../../src/proxy/move-error-concern.ts';
import { PartitionWrite, partitionAnswer } from '../../src/proxy/produce/partition-write.ts';
import { ProducerIdMap, type UpstreamProducer } from '../../src/proxy/producer-id-map.ts';
import { RecentProducers } from '../../src/proxy/recent-producers.ts';
import { createWarmUp, type WarmableCluster } from '../../src/proxy/warm-up.ts';
import type { TopicMeta } from '../../src/upstream/cluster-client.ts';

function meta(name: string, leaders: number[], errorCode: number = ErrorCode.NONE): TopicMeta {
  return { name, errorCode, topicId: '', isInternal: false, partitions: leaders.map((leaderId, partition) => ({ partition, errorCode: ErrorCode.NONE, leaderId })), fetchedAt: 0 };
}

class FakeCluster implements WarmableCluster {
  readonly lanes = 3;
  readonly topics = new Map<string, TopicMeta>();
  readonly metadataCalls: { name: string; refresh: boolean }[] = [];
  readonly connections: string[] = [];
  unreachable = new Set<number>();
  metadataDown = false;

  async topic(name: string, opts: { refresh: boolean }): Promise<TopicMeta> {
    this.metadataCalls.push({ name, refresh: opts.refresh });
    if (this.metadataDown) throw new Error('connect ECONNREFUSED 127.0.0.1:1');
    return this.topics.get(name) ?? meta(name, [], ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  }

  async connection(nodeId: number, lane: number): Promise<unknown> {
    if (this.unreachable.has(nodeId)) throw new Error(`broker ${nodeId}: connect ECONNREFUSED`);
    this.connections.push(`${nodeId}/${lane}`);
    return {};
  }
}

function setup(options: { allocate?: (cluster: Cluster) => Promise<UpstreamProducer> } = {}) {
  const clusters = { source: new FakeCluster(), target: new FakeCluster() };
  const allocations: Cluster[] = [];
  let next = 1000n;
  const producerIds = new ProducerIdMap({
    defaultCluster: 'source',
    allocate: options.allocate ?? (async (cluster) => {
      allocations.push(cluster);
      return { producerId: next++, producerEpoch: 0 };
    }),
  });
  const recentProducers = new RecentProducers();
  const warmUp = createWarmUp({ clusters, producerIds, recentProducers });
  return { clusters, producerIds, recentProducers, warmUp, allocations };
}

const signal = new AbortController().signal;

describe('warm-up of the new side', () => {
  it('fetches fresh metadata, connects every leader on every lane, allocates producer ids for the new generation', async () => {
    const { clusters, producerIds, recentProducers, warmUp, allocations } = setup();
    clusters.target.topics.set('orders', meta('orders', [1, 2, 1]));
    clusters.target.topics.set('payments', meta('payments', [2]));
    recentProducers.record('orders', 7n, 0);
    recentProducers.record('orders', 8n, 3);
    recentProducers.record('payments', 7n, 0);
    recentProducers.record('unrelated', 9n, 0);
    const report = await warmUp({
      label: 'flip of batch "wave-1"', from: 'source', to: 'target', signal,
      topics: [{ topic: 'orders', generation: 1 }, { topic: 'payments', generation: 1 }],
    });
    assert.deepEqual(clusters.target.metadataCalls, [{ name: 'orders', refresh: true }, { name: 'payments', refresh: true }]);
    assert.deepEqual([...clusters.target.connections].sort(), ['1/0', '1/1', '1/2', '2/0', '2/1', '2/2']);
    assert.equal(clusters.source.connections.length, 0);
    // pid 7 writes both topics at the same generation: one upstream pid, as the data path will ask.
    assert.deepEqual(allocations, ['target', 'target']);
    assert.equal(report.topics, 2);
    assert.equal(report.connections, 6);
    assert.equal(report.producerIds, 2);
    // The first released batch finds its producer id without waiting.
    const mapped = producerIds.lookup('orders', { producerId: 8n, producerEpoch: 3 }, 'target', 1);
    assert.ok(mapped !== null && !(mapped instanceof Promise), 'mapped synchronously');
    assert.equal(allocations.length, 2, 'no allocation at release');
  });

  it('a topic missing on the new side is a note (pre-flight decides), not a failure', async () => {
    const { warmUp } = setup();
    const report = await warmUp({ label: 'flip', from: 'source', to: 'target', signal, topics: [{ topic: 'ghost', generation: 1 }] });
    assert.equal(report.topics, 0);
    assert.match(report.notes.join(' '), /not on target.*ghost/);
  });

  it('fails with the reason when metadata, a leader, a connection or a producer id is not to be had', async () => {
    const request = { label: 'flip', from: 'source' as const, to: 'target' as const, signal, topics: [{ topic: 'orders', generation: 1 }] };

    const down = setup();
    down.clusters.target.metadataDown = true;
    await assert.rejects(down.warmUp(request), /metadata of "orders" could not be read from target: connect ECONNREFUSED/);

    const leaderless = setup();
    leaderless.clusters.target.topics.set('orders', meta('orders', [1, -1]));
    await assert.rejects(leaderless.warmUp(request), /no leader on target for orders\[1\]/);

    const unreachable = setup();
    unreachable.clusters.target.topics.set('orders', meta('orders', [1, 2]));
    unreachable.clusters.target.unreachable.add(2);
    await assert.rejects(unreachable.warmUp(request), /target broker 2 \(lane 0\) unreachable/);

    const noPid = setup({ allocate: async () => Promise.reject(new Error('InitProducerId failed with error 15')) });
    noPid.clusters.target.topics.set('orders', meta('orders', [1]));
    noPid.recentProducers.record('orders', 7n, 0);
    await assert.rejects(noPid.warmUp(request), /no producer id from target: InitProducerId failed/);
  });

  it('stops when its signal is aborted', async () => {
    const { clusters, warmUp } = setup();
    clusters.target.topics.set('orders', meta('orders', [1]));
    const stop = new AbortController();
    stop.abort(new Error('warming target did not finish within 5 ms'));
    await assert.rejects(warmUp({ label: 'flip', from: 'source', to: 'target', signal: stop.signal, topics: [{ topic: 'orders', generation: 1 }] }), /within 5 ms/);
  });
});

describe('recent producers', () => {
  it('keeps the latest epoch per producer and forgets producers older than the window', () => {
    let now = 0;
    const recent = new RecentProducers({ now: () => now, maxPerTopic: 2 });
    recent.record('orders', 1n, 0);
    now = 100;
    recent.record('orders', 1n, 2);
    recent.record('orders', 2n, 0);
    assert.deepEqual(recent.of('orders', 1_000), [{ producerId: 1n, producerEpoch: 2 }, { producerId: 2n, producerEpoch: 0 }]);
    now = 1_050;
    assert.deepEqual(recent.of('orders', 1_000), [{ producerId: 1n, producerEpoch: 2 }, { producerId: 2n, producerEpoch: 0 }]);
    now = 1_150;
    assert.deepEqual(recent.of('orders', 1_000), []);
    // The bound per topic drops the first seen.
    recent.record('orders', 3n, 0);
    assert.deepEqual(recent.of('orders', 10).map((p) => p.producerId), [3n]);
    assert.deepEqual(recent.of('payments', 10), []);
  });

  it('as a ProduceConcern: reads the client pid before anything is rewritten and never refuses', () => {
    const recent = new RecentProducers();
    const w = new PartitionWrite('orders', 0, null);
    w.batches = [{ producerId: 42n, producerEpoch: 1 } as PartitionWrite['batches'][number]];
    assert.equal(recent.refuse(w), null);
    assert.deepEqual(recent.of('orders', 1_000), [{ producerId: 42n, producerEpoch: 1 }]);
    const plain = new PartitionWrite('orders', 1, null);
    plain.batches = [{ producerId: -1n, producerEpoch: -1 } as PartitionWrite['batches'][number]];
    assert.equal(recent.refuse(plain), null);
    assert.equal(recent.of('orders', 1_000).length, 1, 'non-idempotent batches are not producers to warm');
  });
});

describe('move error concern', () => {
  it('reports partitions answered with an error to the open move windows, and nothing else', () => {
    const watch = new MoveErrorWatch();
    const concern = moveErrorConcern(watch);
    const window = watch.open(['orders']);
    const failed = new PartitionWrite('orders', 0, null);
    failed.result = partitionAnswer(0, ErrorCode.NOT_LEADER_OR_FOLLOWER, 'kmp: an earlier batch is missing; resend in sequence order');
    const fine = new PartitionWrite('orders', 1, null);
    fine.result = partitionAnswer(1, ErrorCode.NONE, null);
    const elsewhere = new PartitionWrite('payments', 0, null);
    elsewhere.result = partitionAnswer(0, ErrorCode.LEADER_NOT_AVAILABLE, null);
    for (const w of [failed, fine, elsewhere]) concern.settled!(w);
    assert.deepEqual(window.close(), {
      total: 1,
      byError: { NOT_LEADER_OR_FOLLOWER: 1 },
      reasons: { 'NOT_LEADER_OR_FOLLOWER: kmp: an earlier batch is missing; resend in sequence order': 1 },
    });
    concern.settled!(failed);
    assert.equal(watch.openWindows, 0);
  });
});
