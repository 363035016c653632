// Fuzzing the decoders with fast-check: random bodies, truncations, bit flips and length-field overwrites of valid
// frames of every API and version. A decoder must either succeed or throw KafkaCodecError — never another error
// type, never hang, never allocate beyond the input. Whatever decodes must re-encode, and decode again to the same
// value (so the encoder accepts everything the decoder produces).

import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { decodeRequest, decodeResponse, encodeRequestFrame, encodeResponseFrame } from '../../protocol/codec.ts';
import { KafkaCodecError } from '../../protocol/errors.ts';
import { API_INFO, ApiKey, MESSAGE_SCHEMAS, type RequestBody, type ResponseBody } from '../../protocol/messages/index.ts';
import { sampleMessage } from '../../protocol/sample-messages.ts';

interface Sample {
  kind: 'request' | 'response';
  apiKey: number;
  version: number;
  /** The frame without its size prefix. */
  frame: Buffer;
  /** Length of the header at the start of `frame`. */
  headerBytes: number;
}

function concat(chunks: Buffer[]): Buffer {
  return Buffer.concat(chunks).subarray(4); // drop the size prefix
}

/** Valid frames of every API, version and sample variant: the seeds that get mutated. */
function buildCorpus(): Sample[] {
  const out: Sample[] = [];
  for (const info of Object.values(API_INFO)) {
    const reqSchema = MESSAGE_SCHEMAS.find((m) => m.apiKey === info.apiKey && m.type === 'request');
    const resSchema = MESSAGE_SCHEMAS.find((m) => m.apiKey === info.apiKey && m.type === 'response');
    assert.ok(reqSchema && resSchema);
    for (let v = info.minVersion; v <= info.maxVersion; v++) {
      for (const options of [{}, { nulls: true, unknownTags: true, arrayLength: 1 }]) {
        const header = { requestApiKey: info.apiKey, requestApiVersion: v, correlationId: 17, clientId: 'fuzz' };
        const req = concat(encodeRequestFrame(header, sampleMessage(reqSchema, v, options) as unknown as RequestBody));
        const headerBytes = 8 + 2 + 4 + (info.flexibleMinVersion !== null && v >= info.flexibleMinVersion ? 1 : 0);
        out.push({ kind: 'request', apiKey: info.apiKey, version: v, frame: req, headerBytes });
        const res = concat(
          encodeResponseFrame(info.apiKey, v, 17, sampleMessage(resSchema, v, options) as unknown as ResponseBody),
        );
        const resHeader = info.apiKey !== ApiKey.ApiVersions && headerBytes > 14 ? 5 : 4;
        out.push({ kind: 'response', apiKey: info.apiKey, version: v, frame: res, headerBytes: resHeader });
      }
    }
  }
  return out;
}

const corpus = buildCorpus();

interface Stats {
  runs: number;
  decoded: number;
  rejected: number;
  maxMicros: number;
}

const totals: Stats = { runs: 0, decoded: 0, rejected: 0, maxMicros: 0 };

/**
 * Decodes one candidate frame. Returns whether it decoded; throws (failing the property) on any error that is not
 * a KafkaCodecError, and checks that a successful decode survives encode → decode unchanged.
 */
function check(kind: 'request' | 'response', apiKey: number, version: number, frame: Buffer, stats: Stats): boolean {
  const start = process.hrtime.bigint();
  stats.runs++;
  try {
    if (kind === 'request') {
      const req = decodeRequest(frame);
      const again = decodeRequest(concat(encodeRequestFrame(req.header, req.body)));
      assert.deepStrictEqual(again, req);
    } else {
      const res = decodeResponse(frame, apiKey, version);
      const again = decodeResponse(concat(encodeResponseFrame(apiKey, version, res.correlationId, res.body)), apiKey, version);
      assert.deepStrictEqual(again, res);
    }
    stats.decoded++;
    return true;
  } catch (err) {
    if (!(err instanceof KafkaCodecError)) throw err;
    stats.rejected++;
    return false;
  } finally {
    const micros = Number(process.hrtime.bigint() - start) / 1000;
    if (micros > stats.maxMicros) stats.maxMicros = micros;
  }
}

function runProperty(t: TestContext, name: string, numRuns: number, property: fc.IProperty<[Sample, ...unknown[]]> | fc.IProperty<unknown[]>): void {
  const before = { ...totals };
  const start = performance.now();
  fc.assert(property, { numRuns, seed: Number(process.env.KMP_FUZZ_SEED ?? 0x6b6d70) });
  const ms = performance.now() - start;
  const runs = totals.runs - before.runs;
  t.diagnostic(
    `${name}: ${runs} cases in ${ms.toFixed(0)} ms (${totals.decoded - before.decoded} decoded, ` +
      `${totals.rejected - before.rejected} rejected with KafkaCodecError, slowest ${totals.maxMicros.toFixed(0)} µs)`,
  );
}

const sampleArb = fc.nat({ max: corpus.length - 1 }).map((i) => corpus[i]);

describe('fuzz', () => {
  test('corpus frames decode', () => {
    for (const s of corpus) assert.ok(check(s.kind, s.apiKey, s.version, s.frame, totals), `${s.kind} ${s.apiKey} v${s.version}`);
  });

  test('random bodies behind a valid header', (t) => {
    runProperty(
      t,
      'random bodies',
      30_000,
      fc.property(sampleArb, fc.uint8Array({ maxLength: 160 }), (s, body) => {
        const frame = Buffer.concat([s.frame.subarray(0, s.headerBytes), body]);
        check(s.kind, s.apiKey, s.version, frame, totals);
      }),
    );
  });

  test('random frames, API keys and versions', (t) => {
    const keys = [...Object.values(API_INFO).map((i) => i.apiKey), 7, 999, -1];
    runProperty(
      t,
      'random frames',
      15_000,
      fc.property(
        fc.constantFrom(...keys),
        fc.integer({ min: -1, max: 20 }),
        fc.boolean(),
        fc.uint8Array({ maxLength: 96 }),
        (apiKey, version, asRequest, bytes) => {
          let frame = Buffer.from(bytes);
          if (asRequest && frame.length >= 4) {
            frame = Buffer.from(frame);
            frame.writeInt16BE(apiKey, 0);
            frame.writeInt16BE(version, 2);
          }
          check(asRequest ? 'request' : 'response', apiKey, version, frame, totals);
        },
      ),
    );
  });

  test('truncated frames always fail cleanly', (t) => {
    runProperty(
      t,
      'truncations',
      25_000,
      fc.property(sampleArb, fc.nat(), (s, n) => {
        const cut = n % s.frame.length;
        assert.equal(check(s.kind, s.apiKey, s.version, s.frame.subarray(0, cut), totals), false, `cut at ${cut} decoded`);
      }),
    );
  });

  test('bit flips', (t) => {
    runProperty(
      t,
      'bit flips',
      25_000,
      fc.property(
        sampleArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }),
        (s, flips) => {
          const frame = Buffer.from(s.frame);
          for (const [pos, bit] of flips) frame[pos % frame.length] ^= 1 << bit;
          check(s.kind, s.apiKey, s.version, frame, totals);
        },
      ),
    );
  });

  test('length and count fields overwritten with extreme values', (t) => {
    runProperty(
      t,
      'extreme overwrites',
      20_000,
      fc.property(
        sampleArb,
        fc.nat(),
        fc.constantFrom(
          [0xff, 0xff, 0xff, 0xff],
          [0x7f, 0xff, 0xff, 0xff],
          [0x80, 0x00, 0x00, 0x00],
          [0xff, 0xff, 0xff, 0xff, 0x0f],
          [0xfe],
          [0x7f, 0xff],
          [0x00, 0x00],
          [0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        ),
        (s, n, bytes) => {
          const frame = Buffer.from(s.frame);
          const at = s.headerBytes + (n % Math.max(1, frame.length - s.headerBytes));
          for (let i = 0; i < bytes.length && at + i < frame.length; i++) frame[at + i] = bytes[i];
          check(s.kind, s.apiKey, s.version, frame, totals);
        },
      ),
    );
  });

  test('summary: enough cases, none slow', (t) => {
    t.diagnostic(`total ${totals.runs} fuzz cases, slowest single decode ${totals.maxMicros.toFixed(0)} µs`);
    assert.ok(totals.runs >= 100_000, `only ${totals.runs} cases`);
    // A hang (or quadratic blow-up) would show up here long before the test runner's timeout.
    assert.ok(totals.maxMicros < 250_000, `a single decode took ${totals.maxMicros} µs`);
  });
});

describe('hostile lengths', () => {
  function frameOf(hexBody: string, apiKey: number, version: number, flexible: boolean): Buffer {
    const header = Buffer.alloc(10);
    header.writeInt16BE(apiKey, 0);
    header.writeInt16BE(version, 2);
    header.writeInt32BE(1, 4);
    header.writeInt16BE(-1, 8); // null client id
    return Buffer.concat([header, flexible ? Buffer.from([0]) : Buffer.alloc(0), Buffer.from(hexBody.replace(/\s/g, ''), 'hex')]);
  }

  const cases: Array<[string, Buffer]> = [
    ['Produce v3 topic count 2^31-1', frameOf('ffff ffff 00007530 7fffffff 00', ApiKey.Produce, 3, false)],
    ['Produce v9 compact topic count 2^32-2', frameOf('00 ffff 00007530 ffffffff0f 00', ApiKey.Produce, 9, true)],
    [
      'Produce v3 records length 2^31-1',
      frameOf('ffff 0001 00007530 00000001 0001 61 00000001 00000000 7fffffff 0102', ApiKey.Produce, 3, false),
    ],
    [
      'Produce v9 compact records length 2^32-2',
      frameOf('00 0001 00007530 02 02 61 02 00000000 ffffffff0f 0102 00 00 00', ApiKey.Produce, 9, true),
    ],
    ['Metadata v4 topic count 2^31-1', frameOf('7fffffff 01', ApiKey.Metadata, 4, false)],
    ['SaslAuthenticate v0 bytes length 2^31-1', frameOf('7fffffff', ApiKey.SaslAuthenticate, 0, false)],
    ['tagged field size 2^32-1', frameOf('00 0001 00007530 01 01 05 ffffffff0f', ApiKey.Produce, 9, true)],
  ];

  for (const [name, frame] of cases) {
    test(`${name}: rejected at once, without allocating`, () => {
      const mem = process.memoryUsage().arrayBuffers;
      const start = performance.now();
      assert.throws(
        () => decodeRequest(frame),
        (e: unknown) => e instanceof KafkaCodecError && (e.code === 'INVALID_LENGTH' || e.code === 'TRUNCATED'),
      );
      assert.ok(performance.now() - start < 50);
      assert.ok(process.memoryUsage().arrayBuffers - mem < 1 << 20, 'no large allocation');
    });
  }
});
