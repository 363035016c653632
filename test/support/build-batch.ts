// Test-only encoder for real magic-2 RecordBatches (and legacy magic 0/1 messages), written from docs/protocol-notes.md §b
// independently of protocol/record-batch.ts so the tests compare two implementations. CRCs come straight from
// @node-rs/crc32 rather than protocol/crc32c.ts for the same reason.

import { crc32, crc32c } from '@node-rs/crc32';

export type Bytes = Buffer | string | null;

export interface TestRecord {
  key?: Bytes;
  value?: Bytes;
  headers?: Array<[key: string, value: Bytes]>;
  /** Defaults to the record's index in the batch. */
  offsetDelta?: number;
  timestampDelta?: bigint;
  attributes?: number;
}

export interface BatchSpec {
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
  attributes?: number;
  /** Defaults to records.length - 1. */
  lastOffsetDelta?: number;
  baseTimestamp?: bigint;
  maxTimestamp?: bigint;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  records?: TestRecord[];
  /** Raw bytes to put after the header instead of encoding `records` (e.g. a stand-in for a compressed block). */
  recordsPayload?: Buffer;
  /** Defaults to records.length. */
  recordsCount?: number;
}

/** Zigzag varint (Kafka `ByteUtils.writeVarint`/`writeVarlong`), for values of up to 64 bits. */
export function zigzagVarint(value: bigint | number): Buffer {
  const v = BigInt.asIntN(64, BigInt(value));
  let zz = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (zz >= 0x80n) {
    out.push(Number(zz & 0x7fn) | 0x80);
    zz >>= 7n;
  }
  out.push(Number(zz));
  return Buffer.from(out);
}

function bytesOf(b: Bytes): Buffer | null {
  if (b === null) return null;
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
}

function lengthPrefixed(b: Bytes): Buffer {
  const bytes = bytesOf(b);
  if (bytes === null) return zigzagVarint(-1);
  return Buffer.concat([zigzagVarint(bytes.length), bytes]);
}

export function encodeRecord(record: TestRecord, index: number): Buffer {
  const headers = record.headers ?? [];
  const body = Buffer.concat([
    Buffer.from([record.attributes ?? 0]),
    zigzagVarint(record.timestampDelta ?? 0n),
    zigzagVarint(record.offsetDelta ?? index),
    lengthPrefixed(record.key === undefined ? null : record.key),
    lengthPrefixed(record.value === undefined ? null : record.value),
    zigzagVarint(headers.length),
    ...headers.flatMap(([k, v]) => [lengthPrefixed(k), lengthPrefixed(v)]),
  ]);
  return Buffer.concat([zigzagVarint(body.length), body]);
}

/** A complete magic-2 batch with a correct CRC-32C. */
export function buildBatch(spec: BatchSpec = {}): Buffer {
  const records = spec.records ?? [];
  const payload = spec.recordsPayload ?? Buffer.concat(records.map((r, i) => encodeRecord(r, i)));
  const header = Buffer.alloc(61);
  header.writeBigInt64BE(spec.baseOffset ?? 0n, 0);
  header.writeInt32BE(61 - 12 + payload.length, 8);
  header.writeInt32BE(spec.partitionLeaderEpoch ?? -1, 12);
  header.writeInt8(2, 16);
  header.writeInt16BE(spec.attributes ?? 0, 21);
  header.writeInt32BE(spec.lastOffsetDelta ?? records.length - 1, 23);
  header.writeBigInt64BE(spec.baseTimestamp ?? 1_700_000_000_000n, 27);
  header.writeBigInt64BE(spec.maxTimestamp ?? spec.baseTimestamp ?? 1_700_000_000_000n, 35);
  header.writeBigInt64BE(spec.producerId ?? -1n, 43);
  header.writeInt16BE(spec.producerEpoch ?? -1, 51);
  header.writeInt32BE(spec.baseSequence ?? -1, 53);
  header.writeInt32BE(spec.recordsCount ?? records.length, 57);
  const batch = Buffer.concat([header, payload]);
  batch.writeUInt32BE(crc32c(batch.subarray(21)) >>> 0, 17);
  return batch;
}

export interface LegacySpec {
  magic: 0 | 1;
  offset?: bigint;
  attributes?: number;
  timestamp?: bigint;
  key?: Bytes;
  value?: Bytes;
}

function int32Bytes(b: Bytes): Buffer {
  const bytes = bytesOf(b);
  const len = Buffer.alloc(4);
  len.writeInt32BE(bytes === null ? -1 : bytes.length);
  return bytes === null ? len : Buffer.concat([len, bytes]);
}

/** One legacy MessageSet entry: offset int64, size int32, crc32 (IEEE), magic, attributes, [timestamp], key, value. */
export function buildLegacyMessage(spec: LegacySpec): Buffer {
  const timestamp = Buffer.alloc(spec.magic === 1 ? 8 : 0);
  if (spec.magic === 1) timestamp.writeBigInt64BE(spec.timestamp ?? 1_700_000_000_000n);
  const afterCrc = Buffer.concat([
    Buffer.from([spec.magic, spec.attributes ?? 0]),
    timestamp,
    int32Bytes(spec.key ?? null),
    int32Bytes(spec.value ?? null),
  ]);
  const entry = Buffer.alloc(16 + afterCrc.length);
  entry.writeBigInt64BE(spec.offset ?? 0n, 0);
  entry.writeInt32BE(4 + afterCrc.length, 8);
  entry.writeUInt32BE(crc32(afterCrc) >>> 0, 12);
  afterCrc.copy(entry, 16);
  return entry;
}
