// Evidence for the exclusion in upstream-fault.test.ts: kafkajs (idempotent) reuses the sequence numbers of a
// send that failed although its batch WAS written, so the next send's batch is taken by the broker for a
// duplicate of the failed one: acknowledged, and never written. No kmp here: kafkajs talks to the shared source
// broker through a relay that, once armed, swallows one Produce response and closes the connection (the batch is
// on the broker; the client only sees the connection drop) and then refuses connections for a while, so the
// client's one retry fails too (kafkajs does not allow an idempotent producer with `retries: 0`): the send fails.
// Why kafkajs does it: sendMessages.js rolls its sequence back (`updateSequence(topic, partition, -n)`) whenever a
// produce request throws, whatever the reason, and nothing bumps the epoch afterwards (the Java client instead
// bumps the epoch after an in-doubt batch, KIP-360, so a new batch can never match an old one).
// If this test starts failing, kafkajs stopped reusing sequences and the exclusion can go.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, uniqueTopic, bootstrapOf } from '../support/kafka.ts';
import { FrameSplitter, withSizePrefix } from '../../scripts/capture/frame-splitter.ts';
import { rewriteMetadataBrokerPorts } from '../../scripts/capture/metadata-broker-rewrite.ts';

const PRODUCE = 0;
const METADATA = 3;

/**
 * A relay to one broker that can lose exactly one Produce response (the request itself goes through), then
 * refuses connections for `refuseMs`.
 */
class ResponseDroppingRelay {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #port = 0;
  #armed = false;
  #refusingUntil = 0;
  dropped = 0;

  constructor(host: string, port: number) {
    this.#server = net.createServer((client) => this.#relay(client, host, port));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as net.AddressInfo).port;
    return `127.0.0.1:${this.#port}`;
  }

  /** The next Produce response is not passed on; its client connection is closed instead. */
  dropNextProduceResponse(refuseMs: number): void {
    this.#armed = true;
    this.#refuseMs = refuseMs;
  }

  #refuseMs = 0;

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #relay(client: net.Socket, host: string, port: number): void {
    if (Date.now() < this.#refusingUntil) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host, port });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    }
    const requests = new Map<number, { apiKey: number; version: number }>();
    const fromClient = new FrameSplitter();
    const fromBroker = new FrameSplitter();
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      for (const frame of fromClient.push(chunk)) {
        requests.set(frame.readInt32BE(4), { apiKey: frame.readInt16BE(0), version: frame.readInt16BE(2) });
        upstream.write(withSizePrefix(frame));
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      for (let frame of fromBroker.push(chunk)) {
        const req = requests.get(frame.readInt32BE(0));
        if (req?.apiKey === PRODUCE && this.#armed) {
          this.#armed = false;
          this.dropped++;
          this.#refusingUntil = Date.now() + this.#refuseMs;
          closeBoth();
          return;
        }
        // Keep the client on the relay: it would otherwise connect to the broker it learns from Metadata.
        if (req?.apiKey === METADATA) frame = rewriteMetadataBrokerPorts(frame, req.version, () => this.#port).frame;
        client.write(withSizePrefix(frame));
      }
    });
    for (const s of [client, upstream]) {
      s.on('close', closeBoth);
      s.on('error', closeBoth);
    }
  }
}

const [host, port] = bootstrapOf('source').split(':');
const relay = new ResponseDroppingRelay(host, Number(port));

after(async () => {
  await relay.close();
});

test('kafkajs idempotent producer: after a send fails with its batch written, the next send is acknowledged but dropped as a duplicate', async () => {
  await ensureKafkaPair();
  const topic = uniqueTopic('kafkajs-seq-reuse');
  await createTopic('source', topic, 1);
  const bootstrap = await relay.listen();
  const fewRetries = { retries: 1, initialRetryTime: 100, maxRetryTime: 200 }; // for reconnects too: they must fail while the relay refuses
  const producer = kafkaFor(bootstrap, 'kmp-it-seq-reuse', fewRetries).producer({ idempotent: true, maxInFlightRequests: 1, retry: fewRetries });
  await producer.connect();
  let ackOfDropped = '';
  try {
    await producer.send({ topic, acks: -1, messages: [{ value: 'first' }] });
    relay.dropNextProduceResponse(3_000);
    const failed = await producer.send({ topic, acks: -1, messages: [{ value: 'in-doubt' }] }).then(() => null, (e: Error) => e);
    assert.ok(failed !== null, 'the send whose response was lost fails');
    assert.equal(relay.dropped, 1);
    await new Promise((r) => setTimeout(r, 3_000)); // the relay accepts again
    // The producer reconnects by itself; this send reuses the failed send's sequence number.
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ value: 'acknowledged' }] });
    ackOfDropped = String(meta.baseOffset);
    await producer.send({ topic, acks: -1, messages: [{ value: 'last' }] });
  } finally {
    await producer.disconnect();
  }
  const records = await readTopic('source', topic);
  // 'in-doubt' was written although its send failed; 'acknowledged' was acknowledged although it was not written.
  assert.deepEqual(records.map((r) => r.value), ['first', 'in-doubt', 'last']);
  // The broker answered the reused sequence as a duplicate: with the offset of the batch it already had.
  assert.equal(ackOfDropped, String(records[1].offset));
});
