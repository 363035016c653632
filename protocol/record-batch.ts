// Header-level access to the `records` blob of a Produce request: magic-2 RecordBatch views, CRC checks, and the
// producer-id rewrite the migration proxy needs. Layout and CRC range: docs/protocol-notes.md §b (Kafka DefaultRecordBatch.java).
// Only the 61-byte batch header is ever read or written; records (possibly compressed) are never decoded.

import { crc32c, crc32cPatch } from './crc32c.ts';

/** Byte offsets of the magic-2 RecordBatch header fields, relative to the start of the batch. */
export const BatchOffset = {
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
} as const;

/** `RECORD_BATCH_OVERHEAD`: size of the magic-2 header; the records start here. */
export const BATCH_HEADER_SIZE = 61;
/** `LOG_OVERHEAD`: baseOffset + batchLength (legacy: offset + size). An entry is LOG_OVERHEAD + length bytes. */
export const LOG_OVERHEAD = 12;
/** The CRC covers [CRC_START, LOG_OVERHEAD + batchLength): attributes to the end of the batch. */
export const CRC_START = BatchOffset.attributes;
/** Smallest valid batchLength: a header with no records. */
export const MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD;
/** Magic is at byte 16 in every format (legacy: after offset, size and crc), which is how formats are told apart. */
export const MAGIC_OFFSET = BatchOffset.magic;
/** Smallest legacy message `size` (crc, magic, attributes, key length, value length; v1 adds an 8-byte timestamp). */
const LEGACY_MIN_MESSAGE_SIZE = [14, 22] as const;

export const Compression = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionName = keyof typeof Compression | 'unknown';
const COMPRESSION_NAMES: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd', 'unknown', 'unknown', 'unknown'];

/** Attribute bits (docs/protocol-notes.md §b). */
export const BatchAttribute = {
  compressionMask: 0x07,
  timestampType: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const;

export type TimestampType = 'CreateTime' | 'LogAppendTime';

export const RecordBatchErrorCode = {
  /** Fewer than 17 bytes left: not even offset, length and magic can be read. */
  truncatedHeader: 'TRUNCATED_HEADER',
  /** The length field says the entry runs past the end of the blob. */
  truncatedBatch: 'TRUNCATED_BATCH',
  /** The length field is negative or smaller than the fixed header of its format. */
  invalidLength: 'INVALID_LENGTH',
  /** A magic byte other than 0, 1 or 2. */
  unsupportedMagic: 'UNSUPPORTED_MAGIC',
  /** A magic-2 operation was asked for at an offset that holds a legacy (magic 0/1) entry. */
  notMagic2: 'NOT_MAGIC_2',
} as const;
export type RecordBatchErrorCode = (typeof RecordBatchErrorCode)[keyof typeof RecordBatchErrorCode];

/** Malformed records data. `offset` is where the offending entry starts in the records blob. */
export class RecordBatchError extends Error {
  readonly code: RecordBatchErrorCode;
  readonly offset: number;

  constructor(code: RecordBatchErrorCode, offset: number, message: string) {
    super(`${message} (at byte ${offset})`);
    this.name = 'RecordBatchError';
    this.code = code;
    this.offset = offset;
  }
}

/** A magic 0/1 MessageSet entry: located and sized, never parsed (Kafka 4 rejects these from producers). */
export interface LegacyMessageSet {
  readonly kind: 'legacy';
  readonly magic: 0 | 1;
  /** Start of the entry in the records blob. */
  readonly offset: number;
  /** Total entry size: LOG_OVERHEAD + the entry's size field. */
  readonly length: number;
}

/**
 * A magic-2 RecordBatch inside a records blob. Every getter reads the underlying Buffer on demand: nothing is
 * copied, and after an in-place rewrite the view shows the new values. Construction checks that the whole batch
 * lies inside the buffer and that the magic is 2.
 */
export class BatchView {
  readonly kind = 'batch' as const;
  /** The records blob the batch lives in. */
  readonly buffer: Buffer;
  /** Start of the batch in `buffer`. */
  readonly offset: number;
  /** Total batch size: LOG_OVERHEAD + batchLength. */
  readonly byteLength: number;

  /** `checkedLength`: the entry's size, already checked by the caller (with magic 2) — the header is read once. */
  constructor(buffer: Buffer, offset: number, checkedLength?: number) {
    let length: number;
    if (checkedLength === undefined) {
      length = entryLength(buffer, offset);
      const magic = buffer.readInt8(offset + MAGIC_OFFSET);
      if (magic !== 2) {
        throw new RecordBatchError(RecordBatchErrorCode.notMagic2, offset, `expected a magic-2 batch, found magic ${magic}`);
      }
    } else {
      length = checkedLength;
    }
    this.buffer = buffer;
    this.offset = offset;
    this.byteLength = length;
  }

  /** The whole batch as a view (no copy), e.g. for forwarding. */
  get bytes(): Buffer {
    return this.buffer.subarray(this.offset, this.offset + this.byteLength);
  }

  get baseOffset(): bigint {
    return this.buffer.readBigInt64BE(this.offset + BatchOffset.baseOffset);
  }
  get batchLength(): number {
    return this.buffer.readInt32BE(this.offset + BatchOffset.batchLength);
  }
  get partitionLeaderEpoch(): number {
    return this.buffer.readInt32BE(this.offset + BatchOffset.partitionLeaderEpoch);
  }
  get magic(): 2 {
    return 2;
  }
  /** The stored CRC-32C, unsigned. */
  get crc(): number {
    return this.buffer.readUInt32BE(this.offset + BatchOffset.crc);
  }
  get attributes(): number {
    return this.buffer.readInt16BE(this.offset + BatchOffset.attributes);
  }
  /** Compression codec id, attribute bits 0-2 (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; 5-7 are invalid). */
  get compression(): number {
    return this.attributes & BatchAttribute.compressionMask;
  }
  get compressionName(): CompressionName {
    return COMPRESSION_NAMES[this.compression];
  }
  get timestampType(): TimestampType {
    return this.attributes & BatchAttribute.timestampType ? 'LogAppendTime' : 'CreateTime';
  }
  get isTransactional(): boolean {
    return (this.attributes & BatchAttribute.transactional) !== 0;
  }
  get isControl(): boolean {
    return (this.attributes & BatchAttribute.control) !== 0;
  }
  get hasDeleteHorizonMs(): boolean {
    return (this.attributes & BatchAttribute.deleteHorizon) !== 0;
  }
  get lastOffsetDelta(): number {
    return this.buffer.readInt32BE(this.offset + BatchOffset.lastOffsetDelta);
  }
  /** Milliseconds; a number is exact for any real timestamp (|t| < 2^53). */
  get baseTimestamp(): number {
    return Number(this.buffer.readBigInt64BE(this.offset + BatchOffset.baseTimestamp));
  }
  get maxTimestamp(): number {
    return Number(this.buffer.readBigInt64BE(this.offset + BatchOffset.maxTimestamp));
  }
  get producerId(): bigint {
    return this.buffer.readBigInt64BE(this.offset + BatchOffset.producerId);
  }
  get producerEpoch(): number {
    return this.buffer.readInt16BE(this.offset + BatchOffset.producerEpoch);
  }
  get baseSequence(): number {
    return this.buffer.readInt32BE(this.offset + BatchOffset.baseSequence);
  }
  get recordCount(): number {
    return this.buffer.readInt32BE(this.offset + BatchOffset.recordsCount);
  }
}

/**
 * Size of the entry at `offset` (LOG_OVERHEAD + its length field), after checking that it fits in `buffer` and is
 * at least as long as its format's fixed header.
 */
function entryLength(buffer: Buffer, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset > buffer.length) {
    throw new RangeError(`offset ${offset} is outside a records blob of ${buffer.length} bytes`);
  }
  const remaining = buffer.length - offset;
  if (remaining < MAGIC_OFFSET + 1) {
    throw new RecordBatchError(
      RecordBatchErrorCode.truncatedHeader,
      offset,
      `${remaining} bytes left, need at least ${MAGIC_OFFSET + 1} to read an entry header`,
    );
  }
  const length = buffer.readInt32BE(offset + BatchOffset.batchLength);
  const magic = buffer.readInt8(offset + MAGIC_OFFSET);
  let minLength: number;
  if (magic === 2) minLength = MIN_BATCH_LENGTH;
  else if (magic === 0 || magic === 1) minLength = LEGACY_MIN_MESSAGE_SIZE[magic];
  else throw new RecordBatchError(RecordBatchErrorCode.unsupportedMagic, offset, `unsupported magic ${magic}`);
  if (length < minLength) {
    throw new RecordBatchError(
      RecordBatchErrorCode.invalidLength,
      offset,
      `length ${length} is below the minimum ${minLength} for magic ${magic}`,
    );
  }
  if (length > remaining - LOG_OVERHEAD) {
    throw new RecordBatchError(
      RecordBatchErrorCode.truncatedBatch,
      offset,
      `entry of ${LOG_OVERHEAD + length} bytes, only ${remaining} left`,
    );
  }
  return LOG_OVERHEAD + length;
}

/** The entry (magic-2 batch or legacy message) starting at `offset` in a records blob. */
export function readEntryAt(records: Buffer, offset: number): BatchView | LegacyMessageSet {
  const length = entryLength(records, offset);
  const magic = records.readInt8(offset + MAGIC_OFFSET);
  if (magic === 2) return new BatchView(records, offset);
  return { kind: 'legacy', magic: magic === 0 ? 0 : 1, offset, length };
}

/**
 * Walks the entries laid back to back in a records blob. Throws RecordBatchError when an entry is truncated or has
 * an impossible length or magic; entries before it have already been yielded by then.
 */
export function* iterateBatches(records: Buffer): Generator<BatchView | LegacyMessageSet, void, undefined> {
  let offset = 0;
  while (offset < records.length) {
    const entry = readEntryAt(records, offset);
    yield entry;
    offset += entry.kind === 'batch' ? entry.byteLength : entry.length;
  }
}

/** All entries of a records blob; validates the whole blob before returning anything. */
export function splitBatches(records: Buffer): Array<BatchView | LegacyMessageSet> {
  return Array.from(iterateBatches(records));
}

/**
 * The Produce path's one pass over a partition's records: the headers of every batch, after checking the whole blob.
 * Returns 'legacy' when an entry is a magic 0/1 message set, or the reason when the blob is malformed; never throws
 * for bad input (a loop, not the generator above: this runs for every partition of every Produce).
 */
export function readBatchHeaders(records: Buffer): BatchView[] | 'legacy' | string {
  const out: BatchView[] = [];
  let offset = 0;
  try {
    while (offset < records.length) {
      const length = entryLength(records, offset);
      if (records.readInt8(offset + MAGIC_OFFSET) !== 2) return 'legacy';
      out.push(new BatchView(records, offset, length));
      offset += length;
    }
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return out;
}

/** CRC-32C over [21, 12 + batchLength), computed now. */
export function computeCrc(view: BatchView): number {
  return crc32c(view.buffer, view.offset + CRC_START, view.offset + view.byteLength);
}

/** Full CRC check: does the stored CRC match the batch content? */
export function verifyCrc(view: BatchView): boolean {
  return computeCrc(view) === view.crc;
}

// ---------------------------------------------------------------------------------------------------------------
// Producer rewrite

export interface ProducerFields {
  producerId: bigint;
  producerEpoch: number;
  /** Left unchanged when omitted (the proxy keeps the client's sequences across a flip, docs/protocol-notes.md §i.5). */
  baseSequence?: number;
}

export interface RewriteOptions {
  /**
   * Recompute the CRC over the whole batch instead of patching it. For tests and benchmarks. Beware: a full
   * recompute turns a batch that arrived corrupt into one with a valid CRC, whereas the patch carries the
   * mismatch through, so the broker still rejects it with CORRUPT_MESSAGE.
   */
  fullRecompute?: boolean;
}

// Scratch space for the rewritten bytes and the bytes they replace, reused so a rewrite allocates nothing.
// Safe to share: every use is synchronous and finishes before the function returns.
const SCRATCH_NEW = [Buffer.alloc(10), Buffer.alloc(14)] as const;
const SCRATCH_OLD = [Buffer.alloc(10), Buffer.alloc(14)] as const;
// DataView's setBigInt64 is a V8 intrinsic (a few ns); Buffer#writeBigInt64BE does bigint arithmetic (~150 ns).
const SCRATCH_NEW_VIEWS = SCRATCH_NEW.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength));

/**
 * Big-endian encoding of the rewritten header bytes [43, 53) or [43, 57) into a scratch buffer (valid until the
 * next call). Throws RangeError before anything is written anywhere if a value does not fit its field.
 */
function encodeProducerFields(fields: ProducerFields): Buffer {
  const { producerId, producerEpoch, baseSequence } = fields;
  if (typeof producerId !== 'bigint' || BigInt.asIntN(64, producerId) !== producerId) {
    throw new RangeError(`producerId ${String(producerId)} is not an int64`);
  }
  if (!Number.isInteger(producerEpoch) || producerEpoch < -32768 || producerEpoch > 32767) {
    throw new RangeError(`producerEpoch ${producerEpoch} is not an int16`);
  }
  if (baseSequence !== undefined && (!Number.isInteger(baseSequence) || baseSequence < -(2 ** 31) || baseSequence >= 2 ** 31)) {
    throw new RangeError(`baseSequence ${baseSequence} is not an int32`);
  }
  const which = baseSequence === undefined ? 0 : 1;
  const view = SCRATCH_NEW_VIEWS[which];
  view.setBigInt64(0, producerId);
  view.setInt16(8, producerEpoch);
  if (baseSequence !== undefined) view.setInt32(10, baseSequence);
  return SCRATCH_NEW[which];
}

/** Copies `source[from, from + target.length)` to `target` (a plain loop beats a native call for 10-14 bytes). */
function copyInto(target: Buffer, source: Buffer, from: number): Buffer {
  for (let i = 0; i < target.length; i++) target[i] = source[from + i];
  return target;
}

/** Writes the encoded fields at `at` in `target` and returns the patched CRC of the batch they belong to. */
function writeFieldsAndPatchCrc(target: Buffer, at: number, encoded: Buffer, oldCrc: number, crcRangeLength: number): number {
  const old = copyInto(SCRATCH_OLD[encoded.length === 10 ? 0 : 1], target, at);
  const crc = crc32cPatch(oldCrc, crcRangeLength, BatchOffset.producerId - CRC_START, old, encoded);
  for (let i = 0; i < encoded.length; i++) target[at + i] = encoded[i];
  return crc;
}

/**
 * Replaces producerId/producerEpoch (and baseSequence, if given) of the magic-2 batch at `batchOffset` **in
 * place**, and fixes the CRC at byte 17 with an O(log n) patch (nothing but the 61-byte header is read).
 *
 * Mutating is safe for the proxy because it owns the client's frame buffer once the request is decoded: the bytes
 * were read off the client socket into memory no one else references, the client never sees them again, and the
 * only writes are inside this batch's own header, so neighbouring batches and frames (even ones sharing the same
 * underlying slab) are untouched. (The one requirement, the same as for decoding: the frame reader must not recycle
 * that memory before the request has been forwarded.) The written values are absolute, so rewriting the same batch
 * again (a retry routed to another cluster) is fine. A caller that still needs the client's original ids after
 * the rewrite, e.g. to replay the batch elsewhere or to log them, must use `rewriteProducerCopy`.
 */
export function rewriteProducer(
  records: Buffer,
  batchOffset: number,
  fields: ProducerFields,
  options: RewriteOptions = {},
): void {
  const view = new BatchView(records, batchOffset);
  const encoded = encodeProducerFields(fields);
  const at = batchOffset + BatchOffset.producerId;
  if (options.fullRecompute === true) {
    encoded.copy(records, at);
    records.writeUInt32BE(computeCrc(view), batchOffset + BatchOffset.crc);
    return;
  }
  const crc = writeFieldsAndPatchCrc(records, at, encoded, view.crc, view.byteLength - CRC_START);
  records.writeUInt32BE(crc, batchOffset + BatchOffset.crc);
}

/**
 * Like `rewriteProducer`, but leaves `records` untouched: copies only the 61-byte header, rewrites and re-CRCs the
 * copy, and returns `[header, rest]` where `rest` is a view of the batch's records in the original buffer. Write
 * both (e.g. `socket.cork(); write(header); write(rest); uncork()` or a writev) to send the rewritten batch.
 */
export function rewriteProducerCopy(records: Buffer, batchOffset: number, fields: ProducerFields): [header: Buffer, rest: Buffer] {
  const view = new BatchView(records, batchOffset);
  const header = Buffer.from(records.subarray(batchOffset, batchOffset + BATCH_HEADER_SIZE));
  const encoded = encodeProducerFields(fields);
  const crc = writeFieldsAndPatchCrc(header, BatchOffset.producerId, encoded, view.crc, view.byteLength - CRC_START);
  header.writeUInt32BE(crc, BatchOffset.crc);
  return [header, records.subarray(batchOffset + BATCH_HEADER_SIZE, batchOffset + view.byteLength)];
}

// ---------------------------------------------------------------------------------------------------------------
// Metrics summary

export interface RecordsSummary {
  /** Magic-2 batches. */
  batchCount: number;
  /** Legacy (magic 0/1) entries; the proxy rejects these, but metrics should still count them. */
  legacyCount: number;
  /** Sum of the recordsCount fields of the magic-2 batches. */
  recordCount: number;
  /** Distinct codecs, in order of first appearance. */
  compressions: CompressionName[];
  /** Producer fields of the first magic-2 batch, or null when there is none. */
  first: { producerId: bigint; producerEpoch: number; baseSequence: number } | null;
  /** True when any magic-2 batch has the transactional bit. */
  isTransactional: boolean;
}

/** Header-only summary of a records blob (no CRC pass, no decompression). Throws RecordBatchError if malformed. */
export function summarizeRecords(records: Buffer): RecordsSummary {
  const summary: RecordsSummary = {
    batchCount: 0,
    legacyCount: 0,
    recordCount: 0,
    compressions: [],
    first: null,
    isTransactional: false,
  };
  for (const entry of iterateBatches(records)) {
    if (entry.kind === 'legacy') {
      summary.legacyCount++;
      continue;
    }
    summary.batchCount++;
    summary.recordCount += entry.recordCount;
    const compression = entry.compressionName;
    if (!summary.compressions.includes(compression)) summary.compressions.push(compression);
    if (entry.isTransactional) summary.isTransactional = true;
    if (summary.first === null) {
      summary.first = {
        producerId: entry.producerId,
        producerEpoch: entry.producerEpoch,
        baseSequence: entry.baseSequence,
      };
    }
  }
  return summary;
}
