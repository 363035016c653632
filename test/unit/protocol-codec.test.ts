// Headers and whole frames: header-version rules, unknown APIs, KIP-511, trailing bytes, and zero-copy records.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeRequest, decodeResponse, encodeRequestFrame, encodeResponseFrame } from '../../protocol/codec.ts';
import { KafkaCodecError } from '../../protocol/errors.ts';
import { FrameReader } from '../../protocol/frame-reader.ts';
import {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
  requestHeaderVersion,
  responseHeaderVersion,
  type RequestHeader,
} from '../../protocol/header.ts';
import {
  API_INFO,
  ApiKey,
  MESSAGE_SCHEMAS,
  isApiKey,
  type RequestBody,
  type ResponseBody,
} from '../../protocol/messages/index.ts';
import { defaultProduceRequest, type ProduceRequest } from '../../protocol/messages/produce-request.ts';
import { defaultApiVersionsResponse } from '../../protocol/messages/api-versions-response.ts';
import { sampleMessage } from '../../protocol/sample-messages.ts';
import { Writer } from '../../protocol/writer.ts';

/** Encoded frame chunks → the frame body as a FrameReader would hand it out (one chunk per byte, worst case). */
function unframe(chunks: Buffer[]): Buffer {
  const frames = new FrameReader().push(Buffer.concat(chunks));
  assert.equal(frames.length, 1);
  return frames[0];
}

function schemaOf(apiKey: number, type: 'request' | 'response') {
  const s = MESSAGE_SCHEMAS.find((m) => m.apiKey === apiKey && m.type === type);
  assert.ok(s);
  return s;
}

function codecError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof KafkaCodecError && e.code === code;
}

describe('header versions', () => {
  test('follow flexibleVersions; ApiVersions responses always use v0', () => {
    for (const info of Object.values(API_INFO)) {
      for (let v = info.minVersion; v <= info.maxVersion; v++) {
        const flexible = info.flexibleMinVersion !== null && v >= info.flexibleMinVersion;
        assert.equal(requestHeaderVersion(info.apiKey, v), flexible ? 2 : 1, `${info.name} v${v}`);
        const expected = info.apiKey === ApiKey.ApiVersions ? 0 : flexible ? 1 : 0;
        assert.equal(responseHeaderVersion(info.apiKey, v), expected, `${info.name} v${v}`);
      }
    }
    assert.equal(requestHeaderVersion(ApiKey.Produce, 8), 1);
    assert.equal(requestHeaderVersion(ApiKey.Produce, 9), 2);
    assert.equal(requestHeaderVersion(ApiKey.SaslHandshake, 1), 1); // never flexible
    assert.equal(responseHeaderVersion(ApiKey.ApiVersions, 4), 0);
    assert.equal(requestHeaderVersion(12345, 3), 1);
  });
});

describe('request header', () => {
  test('v2 keeps an int16-length client id and adds a tagged-field section', () => {
    const header: RequestHeader = { requestApiKey: ApiKey.Metadata, requestApiVersion: 12, correlationId: 7, clientId: 'kmp' };
    const w = new Writer();
    encodeRequestHeader(w, header);
    assert.equal(w.toBuffer().toString('hex'), '0003' + '000c' + '00000007' + '0003' + '6b6d70' + '00');
    const decoded = decodeRequestHeader(w.toBuffer());
    assert.deepEqual(decoded, { header, bodyOffset: 14, headerVersion: 2, support: 'supported' });
  });

  test('v1 for non-flexible versions, with a null client id', () => {
    const header: RequestHeader = { requestApiKey: ApiKey.Produce, requestApiVersion: 3, correlationId: -5, clientId: null };
    const w = new Writer();
    encodeRequestHeader(w, header);
    assert.equal(w.toBuffer().toString('hex'), '0000' + '0003' + 'fffffffb' + 'ffff');
    assert.deepEqual(decodeRequestHeader(w.toBuffer()).header, header);
  });

  test('unknown tagged fields in the header survive a round trip', () => {
    const header: RequestHeader = {
      requestApiKey: ApiKey.Produce,
      requestApiVersion: 11,
      correlationId: 1,
      clientId: 'c',
      taggedFields: [{ tag: 5, data: Buffer.from('x') }],
    };
    const w = new Writer();
    encodeRequestHeader(w, header);
    assert.deepEqual(decodeRequestHeader(w.toBuffer()).header, header);
  });

  test('an unknown API key still yields key, version, correlation id and client id', () => {
    const frame = Buffer.from('7fff' + '0004' + '0000002a' + '0002' + '6964' + 'deadbeef', 'hex');
    const d = decodeRequestHeader(frame);
    assert.equal(d.support, 'unknown-api-key');
    assert.deepEqual(d.header, { requestApiKey: 0x7fff, requestApiVersion: 4, correlationId: 42, clientId: 'id' });
    assert.equal(d.bodyOffset, 12);
    assert.throws(
      () => decodeRequest(frame),
      (e: unknown) =>
        e instanceof KafkaCodecError &&
        e.code === 'UNSUPPORTED_VERSION' &&
        e.context?.correlationId === 42 &&
        e.context.apiKey === 0x7fff &&
        e.context.clientId === 'id',
    );
  });

  test('an ApiVersions request above the supported range is still parsed as flexible (KIP-511)', () => {
    const frame = Buffer.from('0012' + '0063' + '00000001' + '0001' + '61' + '00' + '0161', 'hex');
    const d = decodeRequestHeader(frame);
    assert.equal(d.support, 'unsupported-version');
    assert.equal(d.headerVersion, 2);
    assert.equal(d.bodyOffset, 12);
    assert.throws(() => decodeRequest(frame), codecError('UNSUPPORTED_VERSION'));
  });

  test('frames too short for a header throw TRUNCATED, with the context that was readable', () => {
    assert.throws(() => decodeRequestHeader(Buffer.from('0000', 'hex')), codecError('TRUNCATED'));
    assert.throws(
      () => decodeRequestHeader(Buffer.from('0000000300000009' + '00', 'hex')),
      (e: unknown) => e instanceof KafkaCodecError && e.code === 'TRUNCATED' && e.context?.correlationId === 9,
    );
  });
});

describe('response header', () => {
  test('v0 and v1 layouts', () => {
    const w0 = new Writer();
    encodeResponseHeader(w0, ApiKey.Produce, 8, 77);
    assert.equal(w0.toBuffer().toString('hex'), '0000004d');
    const w1 = new Writer();
    encodeResponseHeader(w1, ApiKey.Produce, 9, 77);
    assert.equal(w1.toBuffer().toString('hex'), '0000004d00');
    assert.deepEqual(decodeResponseHeader(w1.toBuffer(), ApiKey.Produce, 9), {
      header: { correlationId: 77 },
      bodyOffset: 5,
      headerVersion: 1,
    });
    const wa = new Writer();
    encodeResponseHeader(wa, ApiKey.ApiVersions, 3, 77);
    assert.equal(wa.toBuffer().toString('hex'), '0000004d', 'ApiVersions: no tag section even when flexible');
  });
});

describe('frames', () => {
  test('every API at every version: request and response frames round trip', () => {
    let n = 0;
    for (const info of Object.values(API_INFO)) {
      for (let v = info.minVersion; v <= info.maxVersion; v++) {
        const body = sampleMessage(schemaOf(info.apiKey, 'request'), v) as unknown as RequestBody;
        const header: RequestHeader = { requestApiKey: info.apiKey, requestApiVersion: v, correlationId: 1000 + v, clientId: 'kmp-test' };
        const chunks = encodeRequestFrame(header, body);
        const frame = unframe(chunks);
        assert.equal(frame.length + 4, chunks.reduce((s, c) => s + c.length, 0));
        const req = decodeRequest(frame);
        assert.equal(req.apiKey, info.apiKey);
        assert.deepStrictEqual(req.header, header);
        assert.deepStrictEqual(req.body, body);

        const response = sampleMessage(schemaOf(info.apiKey, 'response'), v) as unknown as ResponseBody;
        const res = decodeResponse(unframe(encodeResponseFrame(info.apiKey, v, -77, response)), info.apiKey, v);
        assert.equal(res.correlationId, -77);
        assert.deepStrictEqual(res.body, response);
        n++;
      }
    }
    assert.ok(isApiKey(ApiKey.DescribeTransactions) && !isApiKey(7));
    assert.ok(n > 100);
  });

  test('the decoded body type follows apiKey', () => {
    const frame = unframe(
      encodeRequestFrame(
        { requestApiKey: ApiKey.Produce, requestApiVersion: 9, correlationId: 1, clientId: null },
        { ...defaultProduceRequest(), acks: -1 },
      ),
    );
    const req = decodeRequest(frame);
    if (req.apiKey === ApiKey.Produce) assert.equal(req.body.acks, -1); // narrowed to ProduceRequest
    else assert.fail('expected a Produce request');
  });

  test('bytes after the body are an error', () => {
    const chunks = encodeRequestFrame(
      { requestApiKey: ApiKey.Produce, requestApiVersion: 9, correlationId: 1, clientId: null },
      defaultProduceRequest(),
    );
    const frame = Buffer.concat([unframe(chunks), Buffer.from([0])]);
    assert.throws(
      () => decodeRequest(frame),
      (e: unknown) => e instanceof KafkaCodecError && e.code === 'TRAILING_BYTES' && e.context?.correlationId === 1,
    );
    const res = Buffer.concat([unframe(encodeResponseFrame(ApiKey.ApiVersions, 3, 5, defaultApiVersionsResponse())), Buffer.from([1])]);
    assert.throws(() => decodeResponse(res, ApiKey.ApiVersions, 3), codecError('TRAILING_BYTES'));
  });
});

describe('zero copy', () => {
  function produceRequest(version: number): { request: ProduceRequest; batches: Buffer[] } {
    const batches = [Buffer.alloc(70_000, 1), Buffer.alloc(300, 2), Buffer.alloc(5, 3)];
    const request: ProduceRequest = {
      transactionalId: null,
      acks: -1,
      timeoutMs: 30_000,
      topicData: [
        {
          name: version < 13 ? 'orders' : '',
          topicId: version < 13 ? '00000000-0000-0000-0000-000000000000' : '0123abcd-4567-89ef-fedc-ba9876543210',
          partitionData: [
            { index: 0, records: batches[0] },
            { index: 1, records: batches[1] },
          ],
        },
        {
          name: version < 13 ? 'payments' : '',
          topicId: version < 13 ? '00000000-0000-0000-0000-000000000000' : '0123abcd-4567-89ef-fedc-ba9876543211',
          partitionData: [{ index: 7, records: batches[2] }],
        },
      ],
    };
    return { request, batches };
  }

  for (const version of [3, 8, 9, 12, 13]) {
    test(`Produce v${version}: decoded records share the frame's memory; encoding appends them by reference`, () => {
      const { request, batches } = produceRequest(version);
      const header = { requestApiKey: ApiKey.Produce, requestApiVersion: version, correlationId: 3, clientId: 'zc' } as const;
      const chunks = encodeRequestFrame(header, request);
      for (const b of batches) assert.ok(chunks.includes(b), 'the caller\'s record Buffer is an output chunk');

      const frame = unframe(chunks);
      const decoded = decodeRequest(frame);
      assert.equal(decoded.apiKey, ApiKey.Produce);
      const body = decoded.body as ProduceRequest;
      const records = body.topicData.flatMap((t) => t.partitionData.map((p) => p.records));
      assert.equal(records.length, 3);
      for (const [i, rec] of records.entries()) {
        assert.ok(rec !== null);
        assert.equal(rec.buffer, frame.buffer, 'same ArrayBuffer as the frame');
        assert.ok(rec.byteOffset >= frame.byteOffset && rec.byteOffset + rec.length <= frame.byteOffset + frame.length);
        assert.ok(rec.equals(batches[i]));
      }

      // Re-encoding the decoded request appends those same slices, not copies.
      const again = encodeRequestFrame(decoded.header, body);
      for (const rec of records) assert.ok(again.includes(rec as Buffer));
      assert.ok(Buffer.concat(again).equals(Buffer.concat(chunks)));
    });
  }
});
