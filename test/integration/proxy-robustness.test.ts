// Bad input never takes the proxy down: random bytes, an oversized frame, a truncated frame and an unknown API
// key each close (or are answered on) that one connection, while a real producer keeps being served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { decodeResponse, encodeRequestFrame } from '../../protocol/codec.ts';
import { defaultProduceRequest } from '../../protocol/messages/produce-request.ts';
import { defaultEndTxnRequest } from '../../protocol/messages/end-txn-request.ts';
import { ZERO_UUID } from '../../protocol/uuid.ts';
import { buildBatch } from '../support/build-batch.ts';

let proxy: RunningProxy;
const topic = uniqueTopic('robust');
const untouched = uniqueTopic('robust-behind');

before(async () => {
  await ensureKafkaPair();
  await createTopic('source', topic, 1);
  await createTopic('source', untouched, 1);
  proxy = await startProxy({ routes: { default: 'source' } });
});

after(async () => {
  await proxy?.stop();
});

/** Sends bytes on a fresh connection; resolves with what came back and whether the proxy closed it. */
function poke(bytes: Buffer, waitMs = 1500): Promise<{ closed: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const s = net.connect(proxy.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    const done = () => resolve({ closed, received: Buffer.concat(chunks) });
    const timer = setTimeout(() => {
      s.destroy();
      done();
    }, waitMs);
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      done();
    });
    s.on('error', () => {});
    s.on('connect', () => s.write(bytes));
  });
}

function frame(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

function requestHeader(apiKey: number, version: number, correlationId: number): Buffer {
  const h = Buffer.alloc(10);
  h.writeInt16BE(apiKey, 0);
  h.writeInt16BE(version, 2);
  h.writeInt32BE(correlationId, 4);
  h.writeInt16BE(-1, 8); // null client id
  return h;
}

async function produceWorks(label: string): Promise<void> {
  const producer = kafkaFor(proxy.bootstrap, `kmp-it-${label}`).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ key: label, value: label }] });
  } finally {
    await producer.disconnect();
  }
}

test('garbage on one connection never affects the others', async () => {
  const cases: [string, Buffer][] = [
    ['random bytes', randomBytes(4096)],
    ['frame larger than the maximum', Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])],
    ['negative frame size', Buffer.from([0xff, 0xff, 0xff, 0xf0])],
    ['truncated Produce body', frame(Buffer.concat([requestHeader(0, 9, 7), Buffer.from([0x01, 0xff])]))],
    ['unknown API key', frame(Buffer.concat([requestHeader(9999, 0, 8), randomBytes(16)]))],
    ['Fetch (advertised, not served)', frame(Buffer.concat([requestHeader(1, 12, 9), randomBytes(32)]))],
    ['Produce v2 (rejected like Kafka 4)', frame(Buffer.concat([requestHeader(0, 2, 10), randomBytes(32)]))],
  ];
  for (const [label, bytes] of cases) {
    const r = await poke(bytes);
    assert.ok(r.closed, `${label}: the connection is closed`);
  }
  // A truncated frame (size says 100, 10 bytes come) just waits for more: the proxy must not answer or crash.
  const partial = await poke(Buffer.concat([Buffer.from([0, 0, 0, 100]), randomBytes(10)]), 500);
  assert.equal(partial.received.length, 0, 'a partial frame gets no answer');
  // ApiVersions at a version the proxy does not know: a v0 error answer (KIP-511), not a close.
  const av = await poke(frame(Buffer.concat([requestHeader(18, 99, 11), Buffer.from([0])])), 800); // header v2: empty tag section
  assert.ok(av.received.length >= 10, 'ApiVersions v99 is answered');
  assert.equal(av.received.readInt32BE(4), 11, 'correlation id echoed');
  assert.equal(av.received.readInt16BE(8), 35, 'UNSUPPORTED_VERSION');

  // A well-formed Produce request whose records are not a valid batch: that partition is answered with an
  // error (as a broker would), the connection stays usable.
  const bad = encodeRequestFrame(
    { requestApiKey: 0, requestApiVersion: 9, correlationId: 12, clientId: 'garbage-records' },
    { ...defaultProduceRequest(), acks: -1, timeoutMs: 5000, topicData: [{ name: topic, topicId: ZERO_UUID, partitionData: [{ index: 0, records: randomBytes(100) }] }] },
  );
  const answer = await poke(Buffer.concat(bad), 1500);
  assert.equal(answer.closed, false, 'a bad batch does not close the connection');
  const decoded = decodeResponse(answer.received.subarray(4), 0, 9);
  assert.equal(decoded.correlationId, 12);
  const pr = (decoded.body as { responses: { partitionResponses: { errorCode: number }[] }[] }).responses[0].partitionResponses[0];
  assert.equal(pr.errorCode, 2, 'CORRUPT_MESSAGE');

  // A transaction API for a transactional id kmp never initialised is answered with an error, not a close.
  const endTxn = encodeRequestFrame(
    { requestApiKey: 26, requestApiVersion: 3, correlationId: 13, clientId: 'txn-client' },
    { ...defaultEndTxnRequest(), transactionalId: 'tx-1', producerId: 5n, producerEpoch: 0, committed: true },
  );
  const txnAnswer = await poke(Buffer.concat(endTxn), 1000);
  assert.equal(txnAnswer.closed, false, 'EndTxn is answered, not closed');
  const txn = decodeResponse(txnAnswer.received.subarray(4), 26, 3);
  assert.equal((txn.body as { errorCode: number }).errorCode, 49, 'INVALID_PRODUCER_ID_MAPPING');

  await produceWorks('after-garbage');
  assert.equal(proxy.child.exitCode, null, 'the proxy process is still running');
  const records = await readTopic('source', topic);
  assert.ok(records.some((r) => r.value === 'after-garbage'));
  assert.match(proxy.logs(), /closing client connection/);
});

/** A valid Produce (acks=-1) of one record to `untouched`, as one frame with its size prefix. */
function produceFrame(correlationId: number, value: string): Buffer {
  return Buffer.concat(encodeRequestFrame(
    { requestApiKey: 0, requestApiVersion: 9, correlationId, clientId: 'behind-garbage' },
    { ...defaultProduceRequest(), acks: -1, timeoutMs: 5000, topicData: [{ name: untouched, topicId: ZERO_UUID, partitionData: [{ index: 0, records: buildBatch({ records: [{ value }] }) }] }] },
  ));
}

test('nothing read after a fatal frame is dispatched: no answer, nothing written upstream, one log line', async () => {
  const garbageHeader = frame(Buffer.from([0, 18, 0])); // a 3-byte "header"
  const truncatedProduce = frame(Buffer.concat([requestHeader(0, 9, 7), Buffer.from([0x01, 0xff])]));
  const apiVersions = (id: number) => frame(Buffer.concat([requestHeader(18, 0, id)]));
  const linesBefore = proxy.logs().split('\n').filter((l) => l.includes('closing client connection')).length;

  const cases: [string, Buffer][] = [
    ['garbage header, then a Produce', Buffer.concat([garbageHeader, produceFrame(21, 'behind-garbage')])],
    ['undecodable Produce body, then a Produce', Buffer.concat([truncatedProduce, produceFrame(22, 'behind-truncated')])],
    ['garbage header, then 100 ApiVersions', Buffer.concat([garbageHeader, ...Array.from({ length: 100 }, (_, i) => apiVersions(100 + i))])],
    ['5,000 garbage frames', Buffer.concat(Array.from({ length: 5000 }, () => garbageHeader))],
  ];
  for (const [label, bytes] of cases) {
    const r = await poke(bytes, 1500);
    assert.ok(r.closed, `${label}: closed`);
    assert.equal(r.received.length, 0, `${label}: nothing behind the bad frame is answered`);
  }
  // A Produce read before the bad frame is still served (in order, answered, then the connection closes).
  const first = await poke(Buffer.concat([produceFrame(23, 'before-garbage'), garbageHeader, produceFrame(24, 'after-garbage')]), 3000);
  assert.ok(first.closed);
  const answer = decodeResponse(first.received.subarray(4), 0, 9);
  assert.equal(answer.correlationId, 23, 'the request before the bad frame is answered');
  assert.equal(first.received.length, 4 + first.received.readInt32BE(0), 'and nothing else');

  const values = (await readTopic('source', untouched, 5_000)).map((r) => r.value);
  assert.ok(!values.includes('behind-garbage') && !values.includes('behind-truncated') && !values.includes('after-garbage'), `nothing behind a bad frame reached the cluster (got ${values.join(',')})`);
  assert.deepEqual(values, ['before-garbage']);
  const linesAfter = proxy.logs().split('\n').filter((l) => l.includes('closing client connection')).length;
  // At most one line per connection (fewer once the shared rate limit cuts in): never one per bad frame.
  assert.ok(linesAfter - linesBefore <= cases.length + 1, `${linesAfter - linesBefore} close lines for ${cases.length + 1} connections`);
  assert.equal(proxy.child.exitCode, null);
});
