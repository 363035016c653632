// Generated message codecs: every message, every version, encoded → decoded → deep-equal, and re-encoded to the
// same bytes. Values come from the schema metadata (protocol/sample-messages.ts), so every field of every version
// is covered, including tagged fields (set to non-defaults so that they are sent) and unknown tagged fields.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KafkaCodecError } from '../../protocol/errors.ts';
import type { MessageSchema } from '../../protocol/message-schema.ts';
import {
  API_INFO,
  ApiKey,
  MESSAGE_SCHEMAS,
  decodeRequestBody,
  decodeRequestHeader,
  decodeResponseBody,
  decodeResponseHeader,
  encodeRequestBody,
  encodeRequestHeader,
  encodeResponseBody,
  encodeResponseHeader,
  type RequestBody,
  type ResponseBody,
} from '../../protocol/messages/index.ts';
import { defaultFetchRequest, defaultFetchPartition, defaultFetchTopic } from '../../protocol/messages/fetch-request.ts';
import { defaultMetadataRequest } from '../../protocol/messages/metadata-request.ts';
import { decodeProduceRequest, defaultProduceRequest, encodeProduceRequest } from '../../protocol/messages/produce-request.ts';
import {
  defaultPartitionProduceResponse,
  defaultProduceResponse,
  defaultTopicProduceResponse,
} from '../../protocol/messages/produce-response.ts';
import { Reader } from '../../protocol/reader.ts';
import { sampleMessage, versionsOf, type SampleOptions, type SampleValue } from '../../protocol/sample-messages.ts';
import { Writer } from '../../protocol/writer.ts';

interface Codec {
  encode(w: Writer, v: number, m: SampleValue): void;
  decode(r: Reader, v: number): unknown;
}

/** The generated codec of a schema, reached through the public dispatch functions where there is one. */
function codecOf(s: MessageSchema): Codec {
  const key = s.apiKey ?? -1;
  switch (s.type) {
    case 'request':
      return {
        encode: (w, v, m) => encodeRequestBody(w, key, v, m as unknown as RequestBody),
        decode: (r, v) => decodeRequestBody(key, v, r),
      };
    case 'response':
      return {
        encode: (w, v, m) => encodeResponseBody(w, key, v, m as unknown as ResponseBody),
        decode: (r, v) => decodeResponseBody(key, v, r),
      };
    default:
      if (s.name === 'RequestHeader') {
        return {
          encode: (w, v, m) => encodeRequestHeader(w, v, m as unknown as Parameters<typeof encodeRequestHeader>[2]),
          decode: (r, v) => decodeRequestHeader(r, v),
        };
      }
      if (s.name === 'ResponseHeader') {
        return {
          encode: (w, v, m) => encodeResponseHeader(w, v, m as unknown as Parameters<typeof encodeResponseHeader>[2]),
          decode: (r, v) => decodeResponseHeader(r, v),
        };
      }
      throw new Error(`no codec for ${s.name}`);
  }
}

function encode(codec: Codec, v: number, m: SampleValue): Buffer {
  const w = new Writer();
  codec.encode(w, v, m);
  return w.toBuffer();
}

const VARIANTS: Array<[string, SampleOptions]> = [
  ['values', {}],
  ['nulls', { nulls: true }],
  ['unknown tags', { unknownTags: true, arrayLength: 3 }],
  ['empty arrays', { arrayLength: 0 }],
];

// The definitions folder holds 46 files: 22 APIs (request + response) and the two headers.
test('every API in the definitions is generated, with request, response and both headers', () => {
  assert.equal(Object.keys(API_INFO).length, 22);
  assert.equal(MESSAGE_SCHEMAS.length, 46);
  assert.equal(ApiKey.Produce, 0);
  // The group APIs of consumer moves (src/consumers/).
  assert.deepEqual([ApiKey.OffsetCommit, ApiKey.OffsetFetch, ApiKey.DescribeGroups, ApiKey.ListGroups], [8, 9, 15, 16]);
  assert.equal(ApiKey.ApiVersions, 18);
  assert.deepEqual(
    MESSAGE_SCHEMAS.filter((s) => s.type === 'header').map((s) => s.name),
    ['RequestHeader', 'ResponseHeader'],
  );
});

describe('round trip of every message and version', () => {
  let total = 0;
  for (const schema of MESSAGE_SCHEMAS) {
    test(schema.name, (t) => {
      const codec = codecOf(schema);
      let cases = 0;
      for (const v of versionsOf(schema)) {
        for (const [label, options] of VARIANTS) {
          const where = `${schema.name} v${v} (${label})`;
          const value = sampleMessage(schema, v, options);
          const bytes = encode(codec, v, value);
          const r = new Reader(bytes);
          const decoded = codec.decode(r, v);
          assert.equal(r.remaining, 0, `${where}: bytes left after decoding`);
          assert.deepStrictEqual(decoded, value, where);
          assert.ok(encode(codec, v, decoded as SampleValue).equals(bytes), `${where}: re-encoding differs`);
          cases++;
        }
      }
      total += cases;
      t.diagnostic(`${cases} round trips`);
    });
  }
  test('summary', (t) => {
    t.diagnostic(`${total} round trips in total`);
    assert.ok(total > 900);
  });
});

describe('version rules when encoding', () => {
  test('a non-default value in a field the version lacks throws UNSUPPORTED_VERSION (non-ignorable field)', () => {
    const partition = { ...defaultPartitionProduceResponse(), currentLeader: { leaderId: 3, leaderEpoch: 7 } };
    const response = {
      ...defaultProduceResponse(),
      responses: [{ ...defaultTopicProduceResponse(), name: 't', partitionResponses: [partition] }],
    };
    assert.doesNotThrow(() => encodeResponseBody(new Writer(), ApiKey.Produce, 10, response));
    assert.throws(
      () => encodeResponseBody(new Writer(), ApiKey.Produce, 9, response),
      (e: unknown) => e instanceof KafkaCodecError && e.code === 'UNSUPPORTED_VERSION' && /currentLeader/.test(e.message),
    );
    // FetchPartition.LastFetchedEpoch (12+) is explicitly not ignorable.
    const fetch = {
      ...defaultFetchRequest(),
      topics: [{ ...defaultFetchTopic(), topic: 't', partitions: [{ ...defaultFetchPartition(), lastFetchedEpoch: 5 }] }],
    };
    assert.doesNotThrow(() => encodeRequestBody(new Writer(), ApiKey.Fetch, 12, fetch));
    assert.throws(
      () => encodeRequestBody(new Writer(), ApiKey.Fetch, 11, fetch),
      (e: unknown) => e instanceof KafkaCodecError && e.code === 'UNSUPPORTED_VERSION',
    );
  });

  test('an ignorable field the version lacks is dropped silently', () => {
    // Produce v13 replaced topic names with ids; Name is ignorable.
    const request = {
      ...defaultProduceRequest(),
      topicData: [{ name: 'orders', topicId: '0123abcd-4567-89ef-fedc-ba9876543210', partitionData: [] }],
    };
    const w = new Writer();
    encodeProduceRequest(w, 13, request);
    const back = decodeProduceRequest(new Reader(w.toBuffer()), 13);
    assert.equal(back.topicData[0].name, '');
    assert.equal(back.topicData[0].topicId, request.topicData[0].topicId);
  });

  test('null in a version where the field is not nullable is rejected both ways', () => {
    // MetadataRequest.Topics is nullable from v1 ("all topics"); v0 used an empty array for that.
    const all = { ...defaultMetadataRequest(), topics: null };
    assert.doesNotThrow(() => encodeRequestBody(new Writer(), ApiKey.Metadata, 1, all));
    assert.throws(
      () => encodeRequestBody(new Writer(), ApiKey.Metadata, 0, all),
      (e: unknown) => e instanceof KafkaCodecError && e.code === 'INVALID_VALUE',
    );
    assert.throws(
      () => decodeRequestBody(ApiKey.Metadata, 0, new Reader(Buffer.from('ffffffff', 'hex'))),
      (e: unknown) => e instanceof KafkaCodecError && e.code === 'UNEXPECTED_NULL',
    );
    assert.equal(decodeRequestBody(ApiKey.Metadata, 1, new Reader(Buffer.from('ffffffff', 'hex'))).topics, null);
  });

  test('unsupported API keys and versions throw UNSUPPORTED_VERSION', () => {
    for (const [key, version] of [
      [ApiKey.Produce, 2],
      [ApiKey.Produce, 14],
      [999, 0],
      [-1, 0],
      [ApiKey.Fetch, 3],
    ] as const) {
      assert.throws(
        () => decodeRequestBody(key, version, new Reader(Buffer.alloc(64))),
        (e: unknown) => e instanceof KafkaCodecError && e.code === 'UNSUPPORTED_VERSION',
      );
      assert.throws(
        () => encodeResponseBody(new Writer(), key, version, defaultProduceResponse()),
        (e: unknown) => e instanceof KafkaCodecError && e.code === 'UNSUPPORTED_VERSION',
      );
    }
  });

  test('fields absent in a version decode to their JSON defaults', () => {
    // ProduceResponse v3: LogStartOffset (5+, default -1), RecordErrors (8+), ErrorMessage (8+, default null).
    const w = new Writer();
    const response = {
      ...defaultProduceResponse(),
      responses: [{ ...defaultTopicProduceResponse(), name: 't', partitionResponses: [defaultPartitionProduceResponse()] }],
    };
    encodeResponseBody(w, ApiKey.Produce, 3, response);
    const back = decodeResponseBody(ApiKey.Produce, 3, new Reader(w.toBuffer()));
    const p = back.responses[0].partitionResponses[0];
    assert.equal(p.logStartOffset, -1n);
    assert.deepEqual(p.recordErrors, []);
    assert.equal(p.errorMessage, null);
    assert.deepEqual(p.currentLeader, { leaderId: -1, leaderEpoch: -1 });
  });
});
