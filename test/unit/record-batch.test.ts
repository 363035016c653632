import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import {
  BATCH_HEADER_SIZE,
  BatchOffset,
  BatchView,
  Compression,
  RecordBatchError,
  RecordBatchErrorCode,
  computeCrc,
  iterateBatches,
  readEntryAt,
  rewriteProducer,
  rewriteProducerCopy,
  splitBatches,
  summarizeRecords,
  verifyCrc,
} from '../../protocol/record-batch.ts';
import type { LegacyMessageSet } from '../../protocol/record-batch.ts';
import { buildBatch, buildLegacyMessage, encodeRecord, zigzagVarint } from '../../test/support/build-batch.ts';
import type { BatchSpec, TestRecord } from '../../test/support/build-batch.ts';

const SAMPLE_RECORDS: TestRecord[] = [
  { key: 'k1', value: 'hello', headers: [['h', 'v']] },
  { key: null, value: 'world', timestampDelta: 5n },
  { key: 'k3', value: null, headers: [['a', null], ['b', Buffer.from([1, 2, 3])]], timestampDelta: 300_000n },
];

const FULL_SPEC: BatchSpec = {
  baseOffset: 123_456_789_012n,
  partitionLeaderEpoch: 7,
  attributes: Compression.gzip | 0x08 | 0x10, // gzip codec bits, LogAppendTime, transactional
  lastOffsetDelta: 2,
  baseTimestamp: 1_725_000_000_123n,
  maxTimestamp: 1_725_000_300_123n,
  producerId: 9_007_199_254_740_993n, // above 2^53: must survive as a bigint
  producerEpoch: 3,
  baseSequence: 41,
  records: SAMPLE_RECORDS,
};

function onlyBatch(records: Buffer): BatchView {
  const entries = splitBatches(records);
  assert.equal(entries.length, 1);
  const entry = entries[0];
  assert.ok(entry instanceof BatchView);
  return entry;
}

function assertRecordBatchError(fn: () => unknown, code: RecordBatchErrorCode, offset?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RecordBatchError, `expected RecordBatchError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (offset !== undefined) assert.equal(err.offset, offset);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// kafkajs as an independent encoder/decoder (deep CommonJS imports, no type declarations: narrowed from unknown).

interface KafkajsEncoder {
  buffer: Buffer;
}
type KafkajsRecordBatch = (args: {
  compression?: number;
  firstOffset?: string;
  firstTimestamp?: number;
  maxTimestamp?: number;
  partitionLeaderEpoch?: number;
  lastOffsetDelta?: number;
  transactional?: boolean;
  producerId?: string;
  producerEpoch?: number;
  firstSequence?: number;
  records: KafkajsEncoder[];
}) => Promise<KafkajsEncoder>;
type KafkajsRecord = (args: { offsetDelta?: number; timestampDelta?: number; key: Buffer | null; value: Buffer | null; headers?: Record<string, Buffer> }) => KafkajsEncoder;
interface KafkajsDecodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers: Record<string, Buffer | null | Array<Buffer | null>>;
}
interface KafkajsDecodedBatch {
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  inTransaction: boolean;
  records: KafkajsDecodedRecord[];
}
type KafkajsBatchDecoder = (decoder: object) => Promise<KafkajsDecodedBatch>;
type KafkajsDecoderClass = new (buffer: Buffer) => object;

const requireCjs = createRequire(import.meta.url);
function loadFunction<T>(specifier: string, pick?: string): T {
  const mod: unknown = requireCjs(specifier);
  const value: unknown = pick === undefined ? mod : (mod as Record<string, unknown>)[pick];
  assert.equal(typeof value, 'function', `${specifier}${pick ? `#${pick}` : ''} is not a function`);
  return value as T;
}
const kafkajsRecordBatch = loadFunction<KafkajsRecordBatch>('kafkajs/src/protocol/recordBatch/v0/index.js', 'RecordBatch');
const kafkajsRecord = loadFunction<KafkajsRecord>('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const kafkajsBatchDecoder = loadFunction<KafkajsBatchDecoder>('kafkajs/src/protocol/recordBatch/v0/decoder.js');
const KafkajsDecoder = loadFunction<KafkajsDecoderClass>('kafkajs/src/protocol/decoder.js');

// ---------------------------------------------------------------------------------------------------------------

test('header layout constants match docs/protocol-notes.md §b', () => {
  assert.deepEqual(BatchOffset, {
    baseOffset: 0,
    batchLength: 8,
    partitionLeaderEpoch: 12,
    magic: 16,
    crc: 17,
    attributes: 21,
    lastOffsetDelta: 23,
    baseTimestamp: 27,
    maxTimestamp: 35,
    producerId: 43,
    producerEpoch: 51,
    baseSequence: 53,
    recordsCount: 57,
    records: 61,
  });
  assert.equal(BATCH_HEADER_SIZE, 61);
});

test('the view reads every header field', () => {
  const records = buildBatch(FULL_SPEC);
  const view = onlyBatch(records);
  assert.equal(view.kind, 'batch');
  assert.equal(view.offset, 0);
  assert.equal(view.byteLength, records.length);
  assert.equal(view.baseOffset, 123_456_789_012n);
  assert.equal(view.batchLength, records.length - 12);
  assert.equal(view.partitionLeaderEpoch, 7);
  assert.equal(view.magic, 2);
  assert.equal(view.crc, records.readUInt32BE(17));
  assert.equal(view.attributes, 0x19);
  assert.equal(view.compression, Compression.gzip);
  assert.equal(view.compressionName, 'gzip');
  assert.equal(view.timestampType, 'LogAppendTime');
  assert.equal(view.isTransactional, true);
  assert.equal(view.isControl, false);
  assert.equal(view.hasDeleteHorizonMs, false);
  assert.equal(view.lastOffsetDelta, 2);
  assert.equal(view.baseTimestamp, 1_725_000_000_123);
  assert.equal(view.maxTimestamp, 1_725_000_300_123);
  assert.equal(view.producerId, 9_007_199_254_740_993n);
  assert.equal(view.producerEpoch, 3);
  assert.equal(view.baseSequence, 41);
  assert.equal(view.recordCount, 3);
  assert.ok(verifyCrc(view));
});

test('defaults of a non-idempotent batch: producer fields -1, CreateTime, no flags', () => {
  const view = onlyBatch(buildBatch({ records: [{ value: 'x' }] }));
  assert.equal(view.producerId, -1n);
  assert.equal(view.producerEpoch, -1);
  assert.equal(view.baseSequence, -1);
  assert.equal(view.timestampType, 'CreateTime');
  assert.equal(view.compressionName, 'none');
  assert.equal(view.isTransactional, false);
  assert.equal(view.isControl, false);
  assert.equal(view.partitionLeaderEpoch, -1);
});

test('attribute bits: every codec id and the control / delete-horizon flags', () => {
  const names = ['none', 'gzip', 'snappy', 'lz4', 'zstd', 'unknown', 'unknown', 'unknown'];
  for (let codec = 0; codec < 8; codec++) {
    const view = onlyBatch(buildBatch({ attributes: codec | 0x20 | 0x40, recordsPayload: Buffer.from('opaque') }));
    assert.equal(view.compression, codec);
    assert.equal(view.compressionName, names[codec]);
    assert.equal(view.isControl, true);
    assert.equal(view.hasDeleteHorizonMs, true);
    assert.equal(view.timestampType, 'CreateTime');
  }
});

test('the view is a view: no copy, and it sees later writes', () => {
  const records = buildBatch(FULL_SPEC);
  const view = onlyBatch(records);
  assert.equal(view.buffer, records);
  assert.equal(view.bytes.buffer, records.buffer);
  assert.equal(view.bytes.byteOffset, records.byteOffset);
  records.writeInt32BE(99, BatchOffset.partitionLeaderEpoch);
  assert.equal(view.partitionLeaderEpoch, 99);
});

test('the test encoder agrees with kafkajs: kafkajs decodes our records', async () => {
  const records = buildBatch({ ...FULL_SPEC, attributes: 0x10 });
  const decoded = await kafkajsBatchDecoder(new KafkajsDecoder(records));
  assert.equal(decoded.producerId, '9007199254740993');
  assert.equal(decoded.producerEpoch, 3);
  assert.equal(decoded.firstSequence, 41);
  assert.equal(decoded.inTransaction, true);
  assert.equal(decoded.records.length, 3);
  assert.deepEqual(decoded.records.map((r) => r.key?.toString() ?? null), ['k1', null, 'k3']);
  assert.deepEqual(decoded.records.map((r) => r.value?.toString() ?? null), ['hello', 'world', null]);
  assert.deepEqual(decoded.records.map((r) => r.offset), ['123456789012', '123456789013', '123456789014']);
  assert.deepEqual(decoded.records[2].headers, { a: null, b: Buffer.from([1, 2, 3]) });
});

test('batches encoded by kafkajs (uncompressed and gzip) read back and verify', async () => {
  for (const compression of [Compression.none, Compression.gzip]) {
    const encoded = await kafkajsRecordBatch({
      compression,
      firstOffset: '0',
      firstTimestamp: 1_725_000_000_000,
      maxTimestamp: 1_725_000_000_999,
      partitionLeaderEpoch: 0,
      lastOffsetDelta: 1,
      transactional: compression === Compression.gzip,
      producerId: '4242',
      producerEpoch: 2,
      firstSequence: 17,
      records: [
        kafkajsRecord({ offsetDelta: 0, key: Buffer.from('a'), value: Buffer.from('1'.repeat(500)) }),
        kafkajsRecord({ offsetDelta: 1, key: null, value: Buffer.from('2'.repeat(500)), headers: { h: Buffer.from('x') } }),
      ],
    });
    const view = onlyBatch(encoded.buffer);
    assert.equal(view.compressionName, compression === Compression.gzip ? 'gzip' : 'none');
    assert.equal(view.producerId, 4242n);
    assert.equal(view.producerEpoch, 2);
    assert.equal(view.baseSequence, 17);
    assert.equal(view.recordCount, 2);
    assert.equal(view.lastOffsetDelta, 1);
    assert.equal(view.baseTimestamp, 1_725_000_000_000);
    assert.equal(view.maxTimestamp, 1_725_000_000_999);
    assert.equal(view.isTransactional, compression === Compression.gzip);
    assert.ok(verifyCrc(view), 'kafkajs CRC verifies');

    rewriteProducer(encoded.buffer, 0, { producerId: 77n, producerEpoch: 0 });
    assert.ok(verifyCrc(view));
    const decoded = await kafkajsBatchDecoder(new KafkajsDecoder(encoded.buffer));
    assert.equal(decoded.producerId, '77');
    assert.equal(decoded.producerEpoch, 0);
    assert.equal(decoded.firstSequence, 17);
    assert.equal(decoded.records[1].value?.toString(), '2'.repeat(500));
  }
});

test('CRC verification: positive, and a flipped bit anywhere in [21, end) is caught', () => {
  const records = buildBatch(FULL_SPEC);
  const view = onlyBatch(records);
  assert.ok(verifyCrc(view));
  assert.equal(computeCrc(view), view.crc);
  for (let i = 21; i < records.length; i++) {
    for (const bit of [0x01, 0x80]) {
      records[i] ^= bit;
      assert.equal(verifyCrc(view), false, `flip at byte ${i}`);
      records[i] ^= bit;
    }
  }
  records[17] ^= 0x04; // the stored CRC itself
  assert.equal(verifyCrc(view), false);
  records[17] ^= 0x04;
  assert.ok(verifyCrc(view));
});

test('baseOffset and partitionLeaderEpoch are not covered by the CRC (the broker sets them)', () => {
  const records = buildBatch(FULL_SPEC);
  const view = onlyBatch(records);
  records.writeBigInt64BE(5n, BatchOffset.baseOffset);
  records.writeInt32BE(12345, BatchOffset.partitionLeaderEpoch);
  assert.ok(verifyCrc(view));
});

// ---------------------------------------------------------------------------------------------------------------
// Rewrite

function changedBytes(a: Buffer, b: Buffer): number[] {
  assert.equal(a.length, b.length);
  const changed: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) changed.push(i);
  return changed;
}

test('rewrite via patch equals rewrite via full recompute, and verifies', () => {
  const original = buildBatch(FULL_SPEC);
  const patched = Buffer.from(original);
  const full = Buffer.from(original);
  const fields = { producerId: 1_000_017n, producerEpoch: 0, baseSequence: 5 };
  rewriteProducer(patched, 0, fields);
  rewriteProducer(full, 0, fields, { fullRecompute: true });
  assert.deepEqual(patched, full);
  const view = onlyBatch(patched);
  assert.ok(verifyCrc(view));
  assert.equal(view.producerId, 1_000_017n);
  assert.equal(view.producerEpoch, 0);
  assert.equal(view.baseSequence, 5);
  for (const i of changedBytes(original, patched)) {
    assert.ok((i >= 17 && i < 21) || (i >= 43 && i < 57), `byte ${i} must not change`);
  }
});

test('rewrite without baseSequence leaves the sequence (bytes 53-56) alone', () => {
  const original = buildBatch(FULL_SPEC);
  const patched = Buffer.from(original);
  rewriteProducer(patched, 0, { producerId: -1n, producerEpoch: -1 });
  const view = onlyBatch(patched);
  assert.ok(verifyCrc(view));
  assert.equal(view.producerId, -1n);
  assert.equal(view.producerEpoch, -1);
  assert.equal(view.baseSequence, 41);
  for (const i of changedBytes(original, patched)) assert.ok((i >= 17 && i < 21) || (i >= 43 && i < 53), `byte ${i}`);
});

test('rewriting to the same values is a no-op; rewriting twice is fine', () => {
  const original = buildBatch(FULL_SPEC);
  const copy = Buffer.from(original);
  rewriteProducer(copy, 0, { producerId: FULL_SPEC.producerId ?? 0n, producerEpoch: 3, baseSequence: 41 });
  assert.deepEqual(copy, original);
  rewriteProducer(copy, 0, { producerId: 1n, producerEpoch: 1 });
  rewriteProducer(copy, 0, { producerId: FULL_SPEC.producerId ?? 0n, producerEpoch: 3 });
  assert.deepEqual(copy, original);
});

test('a corrupt batch stays corrupt after a patched rewrite (full recompute would hide it)', () => {
  const records = buildBatch(FULL_SPEC);
  records[records.length - 1] ^= 0xff; // damage a record byte
  const patched = Buffer.from(records);
  const full = Buffer.from(records);
  rewriteProducer(patched, 0, { producerId: 5n, producerEpoch: 1 });
  rewriteProducer(full, 0, { producerId: 5n, producerEpoch: 1 }, { fullRecompute: true });
  assert.equal(verifyCrc(onlyBatch(patched)), false);
  assert.equal(verifyCrc(onlyBatch(full)), true);
  // The mismatch is carried through unchanged.
  assert.equal(computeCrc(onlyBatch(patched)) ^ onlyBatch(patched).crc, computeCrc(onlyBatch(records)) ^ onlyBatch(records).crc);
});

test('rewriteProducerCopy leaves the input untouched and returns [header, rest-as-view]', () => {
  const records = Buffer.concat([buildBatch({ records: [{ value: 'a' }] }), buildBatch(FULL_SPEC)]);
  const before = Buffer.from(records);
  const second = splitBatches(records)[1];
  assert.ok(second instanceof BatchView);
  const fields = { producerId: 31n, producerEpoch: 4, baseSequence: 0 };
  const [header, rest] = rewriteProducerCopy(records, second.offset, fields);
  assert.deepEqual(records, before);
  assert.equal(header.length, BATCH_HEADER_SIZE);
  assert.equal(rest.buffer, records.buffer, 'rest shares memory with the input');
  assert.equal(rest.byteOffset, records.byteOffset + second.offset + BATCH_HEADER_SIZE);
  assert.equal(header.length + rest.length, second.byteLength);

  const expected = Buffer.from(second.bytes);
  rewriteProducer(expected, 0, fields);
  const gathered = Buffer.concat([header, rest]);
  assert.deepEqual(gathered, expected);
  assert.ok(verifyCrc(onlyBatch(gathered)));
});

test('rewrite validates the target and the values before touching anything', () => {
  const records = Buffer.concat([buildLegacyMessage({ magic: 1, value: 'v' }), buildBatch(FULL_SPEC)]);
  const before = Buffer.from(records);
  assertRecordBatchError(() => rewriteProducer(records, 0, { producerId: 1n, producerEpoch: 1 }), RecordBatchErrorCode.notMagic2, 0);
  assertRecordBatchError(() => rewriteProducerCopy(records, 0, { producerId: 1n, producerEpoch: 1 }), RecordBatchErrorCode.notMagic2);
  const at = records.length - buildBatch(FULL_SPEC).length;
  assert.throws(() => rewriteProducer(records, at, { producerId: 2n ** 63n, producerEpoch: 1 }), RangeError);
  assert.throws(() => rewriteProducer(records, at, { producerId: 1n, producerEpoch: 32768 }), RangeError);
  assert.throws(() => rewriteProducer(records, at, { producerId: 1n, producerEpoch: 1, baseSequence: 2 ** 31 }), RangeError);
  assert.throws(() => rewriteProducer(records, at, { producerId: 1n, producerEpoch: 1.5 }), RangeError);
  assert.throws(() => rewriteProducer(records, records.length + 1, { producerId: 1n, producerEpoch: 1 }), RangeError);
  assert.throws(() => rewriteProducer(records, at + 1, { producerId: 1n, producerEpoch: 1 }), RecordBatchError); // misaligned
  assert.deepEqual(records, before);
  rewriteProducer(records, at, { producerId: 1n, producerEpoch: 1 });
  assert.ok(verifyCrc(new BatchView(records, at)));
});

test('property: patched rewrite == full recompute for random batches and producer fields', () => {
  const bytesArb = fc.oneof(fc.constant(null), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)));
  const recordArb = fc.record({
    key: bytesArb,
    value: bytesArb,
    headers: fc.array(fc.tuple(fc.string({ maxLength: 10 }), bytesArb), { maxLength: 3 }),
    timestampDelta: fc.bigInt({ min: 0n, max: 2n ** 40n }),
  });
  const fieldsArb = fc.record(
    {
      producerId: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      producerEpoch: fc.integer({ min: -32768, max: 32767 }),
      baseSequence: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    },
    { requiredKeys: ['producerId', 'producerEpoch'] },
  );
  fc.assert(
    fc.property(
      fc.array(recordArb, { maxLength: 20 }),
      fc.bigInt({ min: -1n, max: 2n ** 62n }),
      fc.integer({ min: -1, max: 32767 }),
      fc.integer({ min: -1, max: 2 ** 31 - 1 }),
      fc.integer({ min: 0, max: 0x7f }),
      fieldsArb,
      (testRecords, producerId, producerEpoch, baseSequence, attributes, fields) => {
        const original = buildBatch({ records: testRecords, producerId, producerEpoch, baseSequence, attributes });
        const patched = Buffer.from(original);
        const full = Buffer.from(original);
        rewriteProducer(patched, 0, fields);
        rewriteProducer(full, 0, fields, { fullRecompute: true });
        assert.deepEqual(patched, full);
        const view = onlyBatch(patched);
        assert.ok(verifyCrc(view));
        assert.equal(view.producerId, fields.producerId);
        assert.equal(view.producerEpoch, fields.producerEpoch);
        assert.equal(view.baseSequence, fields.baseSequence ?? baseSequence);
        assert.equal(view.recordCount, testRecords.length);
        const [header, rest] = rewriteProducerCopy(original, 0, fields);
        assert.deepEqual(Buffer.concat([header, rest]), patched);
      },
    ),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Several batches, truncation, legacy formats

test('multiple batches back to back: offsets, fields, independent rewrites', () => {
  const batches = [
    buildBatch({ baseSequence: 0, producerId: 10n, producerEpoch: 0, records: [{ value: 'a' }] }),
    buildBatch({ baseSequence: 1, producerId: 10n, producerEpoch: 0, records: [{ value: 'b' }, { value: 'c' }] }),
    buildBatch({ baseSequence: 3, producerId: 10n, producerEpoch: 0, attributes: Compression.zstd, recordsPayload: Buffer.alloc(100, 7), recordsCount: 50 }),
  ];
  const records = Buffer.concat(batches);
  const entries = splitBatches(records);
  assert.equal(entries.length, 3);
  let offset = 0;
  entries.forEach((entry, i) => {
    assert.ok(entry instanceof BatchView);
    assert.equal(entry.offset, offset);
    assert.equal(entry.byteLength, batches[i].length);
    assert.deepEqual(entry.bytes, batches[i]);
    assert.ok(verifyCrc(entry));
    offset += entry.byteLength;
  });
  const middle = entries[1];
  assert.ok(middle instanceof BatchView);
  rewriteProducer(records, middle.offset, { producerId: 99n, producerEpoch: 2 });
  for (const entry of entries) {
    assert.ok(entry instanceof BatchView);
    assert.ok(verifyCrc(entry));
    assert.equal(entry.producerId, entry === middle ? 99n : 10n);
  }
  assert.deepEqual(records.subarray(0, batches[0].length), batches[0]);
  assert.deepEqual(records.subarray(records.length - batches[2].length), batches[2]);
});

test('batches inside a larger buffer (a records field in the middle of a request frame)', () => {
  const batch = buildBatch(FULL_SPEC);
  const frame = Buffer.concat([Buffer.alloc(37, 0xaa), batch, Buffer.alloc(11, 0xbb)]);
  const records = frame.subarray(37, 37 + batch.length);
  rewriteProducer(records, 0, { producerId: 8n, producerEpoch: 8 });
  assert.ok(verifyCrc(onlyBatch(records)));
  assert.deepEqual(frame.subarray(0, 37), Buffer.alloc(37, 0xaa));
  assert.deepEqual(frame.subarray(37 + batch.length), Buffer.alloc(11, 0xbb));
});

test('an empty records blob has no entries', () => {
  assert.deepEqual(splitBatches(Buffer.alloc(0)), []);
});

test('every truncation of two back-to-back batches is reported, after yielding the complete ones', () => {
  const first = buildBatch({ records: [{ value: 'first' }] });
  const second = buildBatch(FULL_SPEC);
  const records = Buffer.concat([first, second]);
  for (let cut = 0; cut <= records.length; cut++) {
    const prefix = records.subarray(0, cut);
    if (cut === 0 || cut === first.length || cut === records.length) {
      assert.equal(splitBatches(prefix).length, cut === 0 ? 0 : cut === first.length ? 1 : 2);
      continue;
    }
    const start = cut < first.length ? 0 : first.length;
    const code = cut - start < 17 ? RecordBatchErrorCode.truncatedHeader : RecordBatchErrorCode.truncatedBatch;
    assertRecordBatchError(() => splitBatches(prefix), code, start);
    const seen: number[] = [];
    assert.throws(() => {
      for (const entry of iterateBatches(prefix)) seen.push(entry.offset);
    }, RecordBatchError);
    assert.deepEqual(seen, start === 0 ? [] : [0]);
  }
});

test('inconsistent lengths and magics are typed errors', () => {
  const batch = buildBatch(FULL_SPEC);
  const negative = Buffer.from(batch);
  negative.writeInt32BE(-1, BatchOffset.batchLength);
  assertRecordBatchError(() => splitBatches(negative), RecordBatchErrorCode.invalidLength, 0);

  const tooShort = Buffer.from(batch);
  tooShort.writeInt32BE(48, BatchOffset.batchLength); // one byte short of a bare 61-byte header
  assertRecordBatchError(() => splitBatches(tooShort), RecordBatchErrorCode.invalidLength);

  const tooLong = Buffer.from(batch);
  tooLong.writeInt32BE(batch.length - 11, BatchOffset.batchLength);
  assertRecordBatchError(() => splitBatches(tooLong), RecordBatchErrorCode.truncatedBatch);

  const shorter = Buffer.from(batch);
  shorter.writeInt32BE(batch.length - 13, BatchOffset.batchLength); // leaves one stray byte behind
  assertRecordBatchError(() => splitBatches(shorter), RecordBatchErrorCode.truncatedHeader, batch.length - 1);

  for (const magic of [3, -1, 0x7f]) {
    const bad = Buffer.from(batch);
    bad.writeInt8(magic, BatchOffset.magic);
    assertRecordBatchError(() => splitBatches(bad), RecordBatchErrorCode.unsupportedMagic, 0);
  }

  const error = new RecordBatchError(RecordBatchErrorCode.truncatedBatch, 12, 'x');
  assert.equal(error.name, 'RecordBatchError');
  assert.ok(error instanceof Error);
});

test('a header-only batch (no records) is valid', () => {
  const view = onlyBatch(buildBatch({ records: [] }));
  assert.equal(view.byteLength, 61);
  assert.equal(view.recordCount, 0);
  assert.ok(verifyCrc(view));
  rewriteProducer(view.buffer, 0, { producerId: 3n, producerEpoch: 3, baseSequence: 3 });
  assert.ok(verifyCrc(view));
});

test('legacy magic 0/1 entries are reported, not parsed, and mixed blobs walk correctly', () => {
  const v0 = buildLegacyMessage({ magic: 0, key: 'k', value: 'v0' });
  const v1 = buildLegacyMessage({ magic: 1, key: null, value: 'value-one' });
  const batch = buildBatch(FULL_SPEC);
  const records = Buffer.concat([v0, v1, batch, v1]);
  const entries = splitBatches(records);
  assert.equal(entries.length, 4);
  const legacy = entries.filter((e): e is LegacyMessageSet => e.kind === 'legacy');
  assert.deepEqual(legacy, [
    { kind: 'legacy', magic: 0, offset: 0, length: v0.length },
    { kind: 'legacy', magic: 1, offset: v0.length, length: v1.length },
    { kind: 'legacy', magic: 1, offset: v0.length + v1.length + batch.length, length: v1.length },
  ]);
  const view = entries[2];
  assert.ok(view instanceof BatchView);
  assert.equal(view.offset, v0.length + v1.length);
  assert.ok(verifyCrc(view));
  assert.deepEqual(readEntryAt(records, v0.length), legacy[1]);

  const tinyLegacy = Buffer.from(v0);
  tinyLegacy.writeInt32BE(13, 8); // below the 14-byte v0 minimum
  assertRecordBatchError(() => splitBatches(tinyLegacy), RecordBatchErrorCode.invalidLength);
  assertRecordBatchError(() => new BatchView(v1, 0), RecordBatchErrorCode.notMagic2);
});

test('summarizeRecords: counts, codecs, first producer, transactional flag', () => {
  const records = Buffer.concat([
    buildBatch({ producerId: 500n, producerEpoch: 1, baseSequence: 10, records: [{ value: 'a' }, { value: 'b' }] }),
    buildBatch({ attributes: Compression.lz4 | 0x10, recordsPayload: Buffer.alloc(30), recordsCount: 7 }),
    buildBatch({ records: [{ value: 'c' }] }),
    buildLegacyMessage({ magic: 1, value: 'old' }),
  ]);
  assert.deepEqual(summarizeRecords(records), {
    batchCount: 3,
    legacyCount: 1,
    recordCount: 10,
    compressions: ['none', 'lz4'],
    first: { producerId: 500n, producerEpoch: 1, baseSequence: 10 },
    isTransactional: true,
  });
  assert.deepEqual(summarizeRecords(Buffer.alloc(0)), {
    batchCount: 0,
    legacyCount: 0,
    recordCount: 0,
    compressions: [],
    first: null,
    isTransactional: false,
  });
  assertRecordBatchError(() => summarizeRecords(records.subarray(0, 70)), RecordBatchErrorCode.truncatedBatch);
});

test('test helper: zigzag varints match Kafka ByteUtils', () => {
  assert.deepEqual(zigzagVarint(0), Buffer.from([0]));
  assert.deepEqual(zigzagVarint(-1), Buffer.from([1]));
  assert.deepEqual(zigzagVarint(1), Buffer.from([2]));
  assert.deepEqual(zigzagVarint(63), Buffer.from([0x7e]));
  assert.deepEqual(zigzagVarint(64), Buffer.from([0x80, 0x01]));
  assert.deepEqual(zigzagVarint(-65), Buffer.from([0x81, 0x01]));
  assert.deepEqual(zigzagVarint(2 ** 31 - 1), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]));
  assert.deepEqual(zigzagVarint(-(2n ** 63n)), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
  // length, attributes, timestampDelta, offsetDelta, key (-1 = null), value "v", 0 headers
  assert.deepEqual(encodeRecord({ value: 'v' }, 0), Buffer.from([0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, 0x76, 0x00]));
});
