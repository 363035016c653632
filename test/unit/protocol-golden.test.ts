// Golden frames from real clients (kafkajs, the Java producer, kcat/librdkafka 2.0.2, kafka-javascript/librdkafka
// 2.15) and a real Kafka 4.3.1 broker, recorded by scripts/capture/capture-golden.ts. Every frame must decode and
// re-encode to exactly the bytes on the wire: the proxy re-encodes what it forwards, so any difference would be a
// change the client or broker never asked for. Synthetic round trips (protocol-messages.test.ts) cannot catch a
// layout that is wrong in both directions; bytes written by independent implementations can.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { decodeRequest, decodeResponse, encodeRequestFrame, encodeResponseFrame } from '../../protocol/codec.ts';
import { KafkaCodecError, KafkaCodecErrorCode } from '../../protocol/errors.ts';
import { ApiKey, isApiKey } from '../../protocol/messages/index.ts';
import { rewriteMetadataBrokerPorts } from '../../scripts/capture/metadata-broker-rewrite.ts';

const GOLDEN_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'golden');

interface GoldenFrame {
  file: string;
  direction: 'request' | 'response';
  apiKey: number;
  apiName: string;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  pairFile: string;
}

interface GoldenIndex {
  client: string;
  frames: GoldenFrame[];
}

function loadIndexes(): GoldenIndex[] {
  return fs
    .readdirSync(GOLDEN_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(GOLDEN_DIR, d.name, 'index.json')))
    .map((d) => JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, d.name, 'index.json'), 'utf8')) as GoldenIndex)
    .sort((a, b) => a.client.localeCompare(b.client));
}

/** The frame without its size prefix, after checking that the prefix announces exactly the rest. */
function unprefixed(chunks: Buffer[]): Buffer {
  const whole = Buffer.concat(chunks);
  assert.equal(whole.readInt32BE(0), whole.length - 4, 'size prefix matches the frame length');
  return whole.subarray(4);
}

/** Asserts that `slice` is a view into `frame`'s memory (zero copy), not a copy of its bytes. */
function assertSliceOf(slice: Buffer, frame: Buffer, what: string): void {
  assert.equal(slice.buffer, frame.buffer, `${what} shares the frame's memory`);
  assert.ok(
    slice.byteOffset >= frame.byteOffset && slice.byteOffset + slice.length <= frame.byteOffset + frame.length,
    `${what} lies inside the frame`,
  );
}

if (!fs.existsSync(GOLDEN_DIR)) {
  test('golden frames', (t) => {
    t.skip(`no fixtures in ${path.relative(process.cwd(), GOLDEN_DIR)}; run node scripts/capture/capture-golden.ts`);
  });
} else {
  const indexes = loadIndexes();

  test('the golden fixture set is complete', () => {
    assert.ok(indexes.length > 0, 'at least one client folder with an index.json');
    for (const index of indexes) {
      const dir = path.join(GOLDEN_DIR, index.client);
      const onDisk = fs.readdirSync(dir).filter((f) => f.endsWith('.bin')).sort();
      assert.deepEqual(index.frames.map((f) => f.file).sort(), onDisk, `${index.client}: index.json lists every .bin file`);
      const kinds = new Set(index.frames.map((f) => `${f.apiKey}/${f.direction}`));
      for (const key of [ApiKey.ApiVersions, ApiKey.Metadata, ApiKey.InitProducerId, ApiKey.Produce]) {
        assert.ok(kinds.has(`${key}/request`) && kinds.has(`${key}/response`), `${index.client}: has API ${key} both ways`);
      }
    }
  });

  // The capture relay's hand-written Metadata parser (which keeps clients on the relay) and the codec must agree
  // on where the broker ports are: rewriting them must change the ports and nothing else.
  test('the capture relay rewrites exactly the broker ports of Metadata responses', () => {
    let checked = 0;
    for (const index of indexes) {
      for (const entry of index.frames) {
        if (entry.apiKey !== ApiKey.Metadata || entry.direction !== 'response') continue;
        const frame = fs.readFileSync(path.join(GOLDEN_DIR, index.client, entry.file));
        const original = decodeResponse(frame, ApiKey.Metadata, entry.apiVersion).body;
        const rewritten = rewriteMetadataBrokerPorts(frame, entry.apiVersion, () => 4242);
        assert.equal(rewritten.frame.length, frame.length);
        assert.deepEqual(rewritten.brokers.map((b) => [b.nodeId, b.host, b.port]), original.brokers.map((b) => [b.nodeId, b.host, b.port]));
        const decoded = decodeResponse(rewritten.frame, ApiKey.Metadata, entry.apiVersion).body;
        assert.deepEqual(decoded, { ...original, brokers: original.brokers.map((b) => ({ ...b, port: 4242 })) }, `${index.client}/${entry.file}`);
        checked++;
      }
    }
    assert.ok(checked > 0);
  });

  for (const index of indexes) {
    const dir = path.join(GOLDEN_DIR, index.client);
    const byFile = new Map(index.frames.map((f) => [f.file, f]));

    describe(`golden frames from ${index.client}`, () => {
      for (const entry of index.frames) {
        test(entry.file, (t) => {
          const frame = fs.readFileSync(path.join(dir, entry.file));

          if (entry.direction === 'request') {
            if (!isApiKey(entry.apiKey)) {
              // An API the codec does not implement (e.g. client telemetry): it must be refused in the documented
              // way, with the identity the proxy needs to answer or log it.
              assert.throws(() => decodeRequest(frame), (err: unknown) =>
                err instanceof KafkaCodecError && err.code === KafkaCodecErrorCode.UNSUPPORTED_VERSION &&
                err.context?.correlationId === entry.correlationId);
              t.diagnostic(`${entry.apiName} (key ${entry.apiKey}) is not implemented by the codec; refused as expected`);
              return;
            }
            const req = decodeRequest(frame);
            assert.equal(req.apiKey, entry.apiKey);
            assert.equal(req.header.requestApiVersion, entry.apiVersion);
            assert.equal(req.header.correlationId, entry.correlationId);
            assert.equal(req.header.clientId, entry.clientId);
            assert.ok(unprefixed(encodeRequestFrame(req.header, req.body)).equals(frame), 're-encodes to the same bytes');

            if (req.apiKey === ApiKey.Produce) {
              let batches = 0;
              for (const topic of req.body.topicData) {
                for (const partition of topic.partitionData) {
                  if (partition.records === null) continue;
                  assertSliceOf(partition.records, frame, `records of partition ${partition.index}`);
                  // Magic byte of a v2 RecordBatch: the slice starts exactly at the batch.
                  assert.equal(partition.records[16], 2, 'records start with a magic-2 record batch');
                  batches++;
                }
              }
              assert.ok(batches > 0, 'the Produce request carries records');
            }
            return;
          }

          const request = byFile.get(entry.pairFile);
          assert.ok(request !== undefined && request.direction === 'request', `response has its request ${entry.pairFile}`);
          assert.equal(request.apiKey, entry.apiKey);
          assert.equal(request.apiVersion, entry.apiVersion);
          if (!isApiKey(entry.apiKey)) {
            t.skip(`${entry.apiName} (key ${entry.apiKey}) is not implemented by the codec`);
            return;
          }
          const res = decodeResponse(frame, entry.apiKey, entry.apiVersion);
          assert.equal(res.correlationId, request.correlationId);
          assert.ok(
            unprefixed(encodeResponseFrame(entry.apiKey, entry.apiVersion, res.correlationId, res.body)).equals(frame),
            're-encodes to the same bytes',
          );
        });
      }
    });
  }
}
