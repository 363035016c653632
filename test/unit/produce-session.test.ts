// The Produce path's lifecycle with an in-process fake upstream: every partition of every request is settled
// exactly once (one barrier complete() or abandon() per ticket, one answer per partition) on every path — ok,
// retriable error, unknown outcome, rejected by the barrier, turned away by the sequence guard, upstream
// unreachable, metadata unavailable — and the answer keeps the client's order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ApiKey } from '../../protocol/messages/index.ts';
import { decodeResponse, encodeRequestFrame } from '../../protocol/codec.ts';
import { decodeRequestHeader } from '../../protocol/header.ts';
import { ZERO_UUID } from '../../protocol/uuid.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { ProduceRequest } from '../../protocol/messages/produce-request.ts';
import type { ProduceResponse } from '../../protocol/messages/produce-response.ts';
import type { Admission, CompletionOutcome, Ticket } from '../../routing/barrier-contract.ts';
import type { Cluster } from '../../routing/cluster.ts';
import { produceHandler } from '../../src/proxy/handlers/produce.ts';
import { SequenceGuard } from '../../src/proxy/sequence-guard.ts';
import { ProducerIdMap } from '../../src/proxy/producer-id-map.ts';
import { ApiVersionTable } from '../../src/proxy/api-versions.ts';
import { UpstreamError } from '../../src/upstream/broker-connection.ts';
import type { ProxyContext } from '../../src/proxy/proxy-context.ts';
import type { RequestContext } from '../../src/proxy/handler.ts';
import type { ProduceConcern } from '../../src/proxy/produce/produce-session.ts';
import type { PartitionWrite } from '../../src/proxy/produce/partition-write.ts';
import { buildBatch } from '../support/build-batch.ts';

const VERSION = 9;
const log = pino({ level: 'silent' });

/** What the fake upstream answers per "topic/partition": an error code, or 'hang-up' (the connection breaks). */
type Script = Record<string, number | 'hang-up'>;

interface Calls {
  completes: { ticket: Ticket; outcome: CompletionOutcome }[];
  abandons: Ticket[];
  sends: { cluster: Cluster; leader: number; partitions: string[]; whole: boolean }[];
}

function fakeContext(opts: {
  script?: Script;
  reject?: (topic: string, partition: number) => boolean;
  /** Leader per partition (default 1): different leaders split the request into groups. */
  leaderOf?: (topic: string, partition: number) => number;
  unreachable?: boolean;
  metadataDown?: boolean;
  sequences?: SequenceGuard;
  concerns?: ProduceConcern[];
  /** Admission waits for this (a move holds the partition) before it is granted. */
  hold?: Promise<void>;
}): { px: ProxyContext; calls: Calls } {
  const calls: Calls = { completes: [], abandons: [], sends: [] };
  const settled = new Set<Ticket>();
  const settleOnce = (t: Ticket) => {
    assert.ok(!settled.has(t), `ticket ${t.topic}-${t.partition} settled twice`);
    settled.add(t);
  };
  const script = opts.script ?? {};
  const answerFor = (cluster: Cluster, leader: number, req: ProduceRequest | Buffer): Promise<ProduceResponse> => {
    const body = Buffer.isBuffer(req) ? null : req;
    const parts = (body ?? lastRequest!).topicData.flatMap((t) => t.partitionData.map((p) => `${t.name}/${p.index}`));
    calls.sends.push({ cluster, leader, partitions: parts, whole: body === null });
    if (parts.some((k) => script[k] === 'hang-up')) return Promise.reject(new UpstreamError('connection', 'connection closed'));
    const byTopic = new Map<string, { index: number; errorCode: number }[]>();
    for (const k of parts) {
      const [topic, p] = k.split('/');
      const code = script[k];
      (byTopic.get(topic) ?? byTopic.set(topic, []).get(topic)!).push({ index: Number(p), errorCode: typeof code === 'number' ? code : ErrorCode.NONE });
    }
    return Promise.resolve({
      throttleTimeMs: 0,
      nodeEndpoints: [],
      responses: [...byTopic].map(([name, ps]) => ({
        name,
        topicId: ZERO_UUID,
        partitionResponses: ps.map((p) => ({ index: p.index, errorCode: p.errorCode, baseOffset: p.errorCode === 0 ? 100n : -1n, logAppendTimeMs: -1n, logStartOffset: 0n, recordErrors: [], errorMessage: null, currentLeader: { leaderId: p.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER ? 7 : -1, leaderEpoch: -1 } })),
      })),
    });
  };
  const connectionFor = (cluster: Cluster, leader: number) => ({
    isOpen: true,
    send: (_k: number, _v: number, body: ProduceRequest) => answerFor(cluster, leader, body),
    sendEncoded: (_k: number, _v: number, body: Buffer) => answerFor(cluster, leader, body),
    sendWithoutResponse: () => true,
  });
  const clusterClient = (cluster: Cluster) => ({
    name: cluster,
    versions: null,
    versionsGeneration: 0,
    cachedTopic: (name: string) => (opts.metadataDown ? undefined : meta(name)),
    topic: (name: string) => (opts.metadataDown ? Promise.reject(new UpstreamError('connection', `${cluster} unreachable`)) : Promise.resolve(meta(name))),
    refreshSoon: () => undefined,
    liveConnection: (leader: number) => (opts.unreachable ? null : connectionFor(cluster, leader)),
    connection: (leader: number) => (opts.unreachable ? Promise.reject(new UpstreamError('connection', 'refused')) : Promise.resolve(connectionFor(cluster, leader))),
    initProducerId: () => Promise.resolve({ producerId: 900n, producerEpoch: 0 }),
  });
  const leaderOf = opts.leaderOf ?? (() => 1);
  const meta = (name: string) => ({ name, errorCode: 0, topicId: ZERO_UUID, isInternal: false, fetchedAt: 0, partitions: [0, 1, 2, 3].map((p) => ({ partition: p, errorCode: 0, leaderId: leaderOf(name, p) })) });
  const px = {
    log,
    // The fakes implement what the Produce path uses of ClusterClient; the rest of the class is not needed here.
    clusters: { source: clusterClient('source'), target: clusterClient('target') } as unknown as ProxyContext['clusters'],
    router: {
      admit: (topic: string, partition: number): Admission | Promise<Admission> => {
        if (opts.reject?.(topic, partition)) return { reject: 'NOT_LEADER_OR_FOLLOWER', errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, reason: 'failed-drain' };
        const ticket: Admission = { topic, partition, cluster: 'source', generation: 0 };
        return opts.hold === undefined ? ticket : opts.hold.then(() => ticket);
      },
      complete: (ticket: Ticket, outcome: CompletionOutcome) => {
        settleOnce(ticket);
        calls.completes.push({ ticket, outcome });
      },
      abandon: (ticket: Ticket) => {
        settleOnce(ticket);
        calls.abandons.push(ticket);
      },
      clusterOf: () => 'source' as Cluster,
    },
    producerIds: new ProducerIdMap({ defaultCluster: 'source', allocate: () => Promise.resolve({ producerId: 900n, producerEpoch: 0 }) }),
    sequences: opts.sequences ?? new SequenceGuard(),
    nodes: [{ nodeId: 0, host: '127.0.0.1', port: 9092 }],
    clusterId: 'test',
    defaultCluster: 'source' as Cluster,
    apiVersions: new ApiVersionTable(() => [], () => 0),
    produceConcerns: opts.concerns ?? [],
  } satisfies ProxyContext;
  return { px, calls };
}

/** The request being produced: the whole-body path forwards its bytes, so the fake reads the partitions here. */
let lastRequest: ProduceRequest | null = null;

function batch(producerId = -1n, baseSequence = -1, records = 2): Buffer {
  return buildBatch({ producerId, producerEpoch: producerId >= 0n ? 0 : -1, baseSequence, records: Array.from({ length: records }, (_, i) => ({ key: `k${i}`, value: 'v' })) });
}

async function produce(px: ProxyContext, topics: { name: string; partitions: { index: number; records: Buffer }[] }[], acks = -1, events: string[] = []): Promise<ProduceResponse | null> {
  const req: ProduceRequest = { transactionalId: null, acks, timeoutMs: 30_000, topicData: topics.map((t) => ({ name: t.name, topicId: ZERO_UUID, partitionData: t.partitions })) };
  lastRequest = req;
  const frame = Buffer.concat(encodeRequestFrame({ requestApiKey: ApiKey.Produce, requestApiVersion: VERSION, correlationId: 42, clientId: 'test' }, req)).subarray(4);
  const { header, bodyOffset } = decodeRequestHeader(frame);
  const connection = { id: 1, remoteAddress: '127.0.0.1:1', clientSoftware: null, clientId: 'test', principal: null, listener: 'default', advertisedNodes: undefined, log, auth: null, close() {}, closeAfterResponses() {}, authenticated() {} };
  return new Promise((resolve, reject) => {
    const respond = {
      send: (chunks: Buffer[]) => {
        events.push('answer');
        resolve(decodeResponse(Buffer.concat(chunks).subarray(4), ApiKey.Produce, VERSION).body as ProduceResponse);
      },
      none: () => resolve(null),
      close: (reason: string) => reject(new Error(reason)),
    };
    const ctx: RequestContext = { header, frame, bodyOffset, connection, frameDone: () => events.push('frame done') };
    Promise.resolve(produceHandler(px)(ctx, respond)).catch(reject);
  });
}

const codes = (res: ProduceResponse | null) => res!.responses.flatMap((t) => t.partitionResponses.map((p) => `${t.name}/${p.index}:${p.errorCode}`));

test('ok: every partition acknowledged once, answers in the client order, the whole body forwarded byte for byte', async () => {
  const { px, calls } = fakeContext({});
  const res = await produce(px, [{ name: 'b', partitions: [{ index: 1, records: batch() }, { index: 0, records: batch() }] }, { name: 'a', partitions: [{ index: 2, records: batch() }] }]);
  assert.deepEqual(codes(res), ['b/1:0', 'b/0:0', 'a/2:0']);
  assert.equal(calls.completes.length, 3);
  assert.ok(calls.completes.every((c) => c.outcome.ok));
  assert.equal(calls.abandons.length, 0);
  assert.deepEqual(calls.sends.map((s) => s.whole), [true]);
  const last = calls.completes.find((c) => c.ticket.partition === 1)!.outcome;
  assert.ok(last.ok && last.lastOffset === 101n, 'the ledger gets the last offset of the two records');
});

test('split across leaders: one upstream request per leader, each with its own partitions', async () => {
  const { px, calls } = fakeContext({ leaderOf: (_t, p) => (p % 2 === 0 ? 1 : 2) });
  const res = await produce(px, [{ name: 't', partitions: [0, 1, 2, 3].map((index) => ({ index, records: batch() })) }]);
  assert.deepEqual(codes(res), ['t/0:0', 't/1:0', 't/2:0', 't/3:0']);
  assert.deepEqual(calls.sends.map((s) => [s.leader, s.partitions, s.whole]), [[1, ['t/0', 't/2'], false], [2, ['t/1', 't/3'], false]]);
  assert.equal(calls.completes.length, 4);
});

test('retriable and unknown-outcome upstream errors: settled once each, with the right "written" and KIP-951 hints stripped', async () => {
  const { px, calls } = fakeContext({ script: { 't/0': ErrorCode.NOT_LEADER_OR_FOLLOWER, 't/1': ErrorCode.REQUEST_TIMED_OUT } });
  const res = await produce(px, [{ name: 't', partitions: [{ index: 0, records: batch() }, { index: 1, records: batch() }, { index: 2, records: batch() }] }]);
  assert.deepEqual(codes(res), [`t/0:${ErrorCode.NOT_LEADER_OR_FOLLOWER}`, `t/1:${ErrorCode.REQUEST_TIMED_OUT}`, 't/2:0']);
  assert.equal(res!.responses[0].partitionResponses[0].currentLeader.leaderId, -1, 'upstream leader hints never reach the client');
  const by = new Map(calls.completes.map((c) => [c.ticket.partition, c.outcome]));
  assert.deepEqual(by.get(0), { ok: false, retriable: true, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, written: 'no' });
  assert.deepEqual(by.get(1), { ok: false, retriable: true, errorCode: ErrorCode.REQUEST_TIMED_OUT, written: 'unknown' });
  assert.equal(calls.completes.length, 3);
});

test('a broken upstream connection: every partition of the request has an unknown outcome, settled once', async () => {
  const { px, calls } = fakeContext({ script: { 't/0': 'hang-up' } });
  const res = await produce(px, [{ name: 't', partitions: [{ index: 0, records: batch() }, { index: 1, records: batch() }] }]);
  assert.deepEqual(codes(res), [`t/0:${ErrorCode.NOT_LEADER_OR_FOLLOWER}`, `t/1:${ErrorCode.NOT_LEADER_OR_FOLLOWER}`]);
  assert.equal(calls.completes.length, 2);
  assert.ok(calls.completes.every((c) => !c.outcome.ok && c.outcome.written === 'unknown'));
});

test('rejected by the barrier: answered with its error, never sent, no ticket to settle', async () => {
  const { px, calls } = fakeContext({ reject: (_t, p) => p === 1 });
  const res = await produce(px, [{ name: 't', partitions: [{ index: 0, records: batch() }, { index: 1, records: batch() }] }]);
  assert.deepEqual(codes(res), ['t/0:0', `t/1:${ErrorCode.NOT_LEADER_OR_FOLLOWER}`]);
  assert.equal(calls.completes.length, 1);
  assert.equal(calls.abandons.length, 0);
  assert.deepEqual(calls.sends.map((s) => [s.partitions, s.whole]), [[['t/0'], false]], 'the rejected partition is not in the upstream request');
});

test('turned away by the sequence guard: abandoned once, not sent, the guard still expects the missing batch', async () => {
  const sequences = new SequenceGuard();
  const key = SequenceGuard.key(5n, 0, 't', 0);
  sequences.forward(key, 0, 2); // the proxy forwarded sequences 0-1 earlier; 2 is next
  const { px, calls } = fakeContext({ sequences });
  const res = await produce(px, [{ name: 't', partitions: [{ index: 0, records: batch(5n, 10) }, { index: 1, records: batch(5n, 0) }] }]);
  assert.deepEqual(codes(res), [`t/0:${ErrorCode.NOT_LEADER_OR_FOLLOWER}`, 't/1:0']);
  assert.equal(calls.abandons.length, 1);
  assert.equal(calls.abandons[0].partition, 0);
  assert.equal(calls.completes.length, 1);
  assert.equal(sequences.next(key), 2);
});

test('a failed write moves the guard back, so the client\'s resend in order is forwarded', async () => {
  const sequences = new SequenceGuard();
  const { px } = fakeContext({ sequences, script: { 't/0': ErrorCode.NOT_ENOUGH_REPLICAS } });
  await produce(px, [{ name: 't', partitions: [{ index: 0, records: batch(5n, 0, 3) }] }]);
  assert.equal(sequences.next(SequenceGuard.key(5n, 0, 't', 0)), 0, 'not written: the same batch is due again');
});

test('upstream unreachable and metadata unavailable: retriable errors, every ticket settled once', async () => {
  const down = fakeContext({ unreachable: true });
  const r1 = await produce(down.px, [{ name: 't', partitions: [{ index: 0, records: batch() }, { index: 3, records: batch() }] }]);
  assert.deepEqual(codes(r1), [`t/0:${ErrorCode.NOT_LEADER_OR_FOLLOWER}`, `t/3:${ErrorCode.NOT_LEADER_OR_FOLLOWER}`]);
  assert.equal(down.calls.completes.length, 2);
  assert.ok(down.calls.completes.every((c) => !c.outcome.ok && c.outcome.written === 'no'));
  const cold = fakeContext({ metadataDown: true });
  const r2 = await produce(cold.px, [{ name: 't', partitions: [{ index: 0, records: batch() }] }]);
  assert.deepEqual(codes(r2), [`t/0:${ErrorCode.LEADER_NOT_AVAILABLE}`]);
  assert.equal(cold.calls.completes.length, 1);
  assert.equal(cold.calls.sends.length, 0);
});

test('a corrupt batch is refused before admission; a concern sees every settlement exactly once', async () => {
  const seen: string[] = [];
  const concern: ProduceConcern = { settled: (w: PartitionWrite) => seen.push(`${w.topic}/${w.partition}:${w.settlement}`) };
  const { px, calls } = fakeContext({ concerns: [concern], script: { 't/2': ErrorCode.REQUEST_TIMED_OUT } });
  const corrupt = batch();
  corrupt.writeInt32BE(1_000_000, 8); // batchLength beyond the blob
  const res = await produce(px, [{ name: 't', partitions: [{ index: 0, records: corrupt }, { index: 1, records: batch() }, { index: 2, records: batch() }] }]);
  assert.deepEqual(codes(res), [`t/0:${ErrorCode.CORRUPT_MESSAGE}`, 't/1:0', `t/2:${ErrorCode.REQUEST_TIMED_OUT}`]);
  assert.deepEqual(seen.sort(), ['t/0:failed', 't/1:ok', 't/2:unknown']);
  assert.equal(calls.completes.length, 2, 'the corrupt partition was never admitted');
});

test('acks=0: no answer, every admitted partition still settled', async () => {
  const { px, calls } = fakeContext({});
  const res = await produce(px, [{ name: 't', partitions: [{ index: 0, records: batch() }, { index: 1, records: batch() }] }], 0);
  assert.equal(res, null);
  assert.equal(calls.completes.length, 2);
  assert.ok(calls.completes.every((c) => c.outcome.ok));
});

test('a write held by a move is checked again before it is sent: a concern that refuses by then (lease lost) turns it away unsent', async () => {
  let release = (): void => undefined;
  const hold = new Promise<void>((resolve) => (release = resolve));
  let fenced = false;
  const refusal = () => (fenced ? { errorCode: ErrorCode.LEADER_NOT_AVAILABLE, message: 'fenced' } : null);
  const { px, calls } = fakeContext({ hold, concerns: [{ refuse: refusal, refuseBeforeSend: refusal }] });
  const answer = produce(px, [{ name: 't', partitions: [{ index: 0, records: batch() }] }]);
  await new Promise((r) => setImmediate(r));
  fenced = true; // the instance lost its lease while the write was held
  release();
  assert.deepEqual(codes(await answer), [`t/0:${ErrorCode.LEADER_NOT_AVAILABLE}`]);
  assert.equal(calls.sends.length, 0, 'nothing was sent upstream');
  assert.equal(calls.abandons.length, 1, 'the ticket was abandoned (no attempt), so a drain does not wait for it');
  assert.equal(calls.completes.length, 0);
});

// The client's frame is recycled (RequestContext.frameDone, src/proxy/frame-pool.ts) only once nothing can read it.
test('frame recycling: given back once, after the answer, when every write was answered and nothing kept the records', async () => {
  const { px } = fakeContext({ leaderOf: (_t, p) => (p % 2 === 0 ? 1 : 2) });
  const events: string[] = [];
  await produce(px, [{ name: 't', partitions: [0, 1, 2].map((index) => ({ index, records: batch() })) }], -1, events);
  assert.deepEqual(events, ['answer', 'frame done']);
});

test('frame recycling: kept when a concern keeps a view of the records (write-back, schema sampling), and for acks=0', async () => {
  const keeper: ProduceConcern = { settled: (w: PartitionWrite) => { if (w.partition === 1) w.recordsKept = true; } };
  const { px } = fakeContext({ concerns: [keeper] });
  const kept: string[] = [];
  await produce(px, [{ name: 't', partitions: [0, 1].map((index) => ({ index, records: batch() })) }], -1, kept);
  assert.deepEqual(kept, ['answer'], 'one write kept its records: the frame is not given back');

  const fire: string[] = [];
  await produce(fakeContext({}).px, [{ name: 't', partitions: [{ index: 0, records: batch() }] }], 0, fire);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(fire, [], 'acks=0: the upstream write may still be queued in the socket');
});

test('frame recycling: given back after a broken upstream connection (its writes were destroyed with it)', async () => {
  const { px } = fakeContext({ script: { 't/0': 'hang-up' } });
  const events: string[] = [];
  await produce(px, [{ name: 't', partitions: [{ index: 0, records: batch() }] }], -1, events);
  assert.deepEqual(events, ['answer', 'frame done']);
});
