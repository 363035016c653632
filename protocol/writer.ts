// Encoding of Kafka primitive types into a list of Buffers ("gathered writes").
//
// Small values go into a scratch buffer; record batches (and large byte fields) are appended as references to the
// caller's Buffer, so re-encoding a Produce request never copies its records. The result is a Buffer[] that can be
// handed to `socket.cork(); socket.write(...) x n; socket.uncork()` (or `writev`) without concatenation; tests use
// `toBuffer()`.
//
// Every writer validates its value (range, type, length) and throws KafkaCodecError('INVALID_VALUE'), so that a bad
// value built by proxy code fails loudly instead of being silently truncated into a corrupt frame.

import { KafkaCodecError, KafkaCodecErrorCode } from './errors.ts';
import type { TaggedField } from './tagged-field.ts';
import { uuidHex } from './uuid.ts';

/** Writes one array element. Generated encoders pass `(writer, version, element) => void` functions. */
export type ElementWriter<T> = (w: Writer, version: number, element: T) => void;

/** `bytes` values up to this size are copied into the scratch buffer: a separate chunk costs more than a copy. */
const COPY_BYTES_UP_TO = 256;
const DEFAULT_SCRATCH_BYTES = 256;
/** Scratch buffers grow geometrically up to this size; a single larger value gets a buffer of its own size. */
const MAX_SCRATCH_BYTES = 64 * 1024;
const MAX_STRING_BYTES = 0x7fff;

export interface WriterOptions {
  /** Size of the first scratch buffer. */
  initialCapacity?: number;
}

export class Writer {
  private readonly chunks: Buffer[] = [];
  private scratch: Buffer;
  /** Next write position in `scratch`. */
  private pos = 0;
  /** Start of the bytes in `scratch` that are not yet in `chunks`. */
  private mark = 0;
  /** Total length of `chunks`. */
  private chunkedBytes = 0;

  constructor(options: WriterOptions = {}) {
    this.scratch = Buffer.allocUnsafe(Math.max(16, options.initialCapacity ?? DEFAULT_SCRATCH_BYTES));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.chunkedBytes + this.pos - this.mark;
  }

  /**
   * The output as a list of Buffers. Large byte fields appear as the very Buffer objects that were given to the
   * writer. Call it once, after the last write.
   */
  toChunks(): Buffer[] {
    this.flushScratch();
    return this.chunks;
  }

  /** The output in one Buffer (copies; meant for tests and small messages). */
  toBuffer(): Buffer {
    const total = this.length;
    return Buffer.concat(this.toChunks(), total);
  }

  // ---- scratch management -------------------------------------------------------------------------------------

  private ensure(n: number): void {
    if (this.pos + n > this.scratch.length) this.grow(n);
  }

  private grow(n: number): void {
    this.flushScratch();
    // The old scratch stays alive through the slice in `chunks`; start a fresh one instead of copying.
    const size = Math.max(n, Math.min(this.scratch.length * 2, MAX_SCRATCH_BYTES));
    this.scratch = Buffer.allocUnsafe(size);
    this.pos = 0;
    this.mark = 0;
  }

  private flushScratch(): void {
    if (this.pos > this.mark) {
      this.chunks.push(this.scratch.subarray(this.mark, this.pos));
      this.chunkedBytes += this.pos - this.mark;
      this.mark = this.pos;
    }
  }

  /** Appends `buf` by reference (no copy). The caller must not modify it until the output has been written. */
  appendRef(buf: Buffer): void {
    if (buf.length === 0) return;
    this.flushScratch();
    this.chunks.push(buf);
    this.chunkedBytes += buf.length;
  }

  /** Appends raw bytes, copying small ones and referencing large ones. */
  raw(buf: Buffer): void {
    if (buf.length <= COPY_BYTES_UP_TO) {
      this.ensure(buf.length);
      buf.copy(this.scratch, this.pos);
      this.pos += buf.length;
    } else {
      this.appendRef(buf);
    }
  }

  /** Appends everything another writer produced (used for tagged-field values, whose size must come first). */
  appendWriter(other: Writer): void {
    for (const chunk of other.toChunks()) this.raw(chunk);
  }

  // ---- fixed-size integers ------------------------------------------------------------------------------------

  int8(v: number): void {
    if (((v << 24) >> 24) !== v) throw outOfRange('int8', v);
    this.ensure(1);
    this.scratch[this.pos++] = v & 0xff;
  }

  int16(v: number): void {
    if (((v << 16) >> 16) !== v) throw outOfRange('int16', v);
    this.put16(v);
  }

  uint16(v: number): void {
    if ((v & 0xffff) !== v) throw outOfRange('uint16', v);
    this.put16(v);
  }

  private put16(v: number): void {
    this.ensure(2);
    const b = this.scratch;
    const p = this.pos;
    b[p] = (v >>> 8) & 0xff;
    b[p + 1] = v & 0xff;
    this.pos = p + 2;
  }

  int32(v: number): void {
    if ((v | 0) !== v) throw outOfRange('int32', v);
    this.put32(v);
  }

  uint32(v: number): void {
    if (v >>> 0 !== v) throw outOfRange('uint32', v);
    this.put32(v);
  }

  private put32(v: number): void {
    this.ensure(4);
    const b = this.scratch;
    const p = this.pos;
    b[p] = (v >>> 24) & 0xff;
    b[p + 1] = (v >>> 16) & 0xff;
    b[p + 2] = (v >>> 8) & 0xff;
    b[p + 3] = v & 0xff;
    this.pos = p + 4;
  }

  int64(v: bigint): void {
    if (typeof v !== 'bigint' || BigInt.asIntN(64, v) !== v) throw outOfRange('int64', v);
    this.ensure(8);
    this.scratch.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  float64(v: number): void {
    if (typeof v !== 'number') throw outOfRange('float64', v);
    this.ensure(8);
    this.scratch.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  bool(v: boolean): void {
    if (typeof v !== 'boolean') throw outOfRange('bool', v);
    this.ensure(1);
    this.scratch[this.pos++] = v ? 1 : 0;
  }

  /** A lowercase canonical UUID string as 16 raw bytes. */
  uuid(v: string): void {
    const hex = uuidHex(v);
    this.ensure(16);
    this.scratch.write(hex, this.pos, 16, 'hex');
    this.pos += 16;
  }

  // ---- varints ------------------------------------------------------------------------------------------------

  /** Unsigned LEB128 of a uint32. */
  uvarint(v: number): void {
    if (v >>> 0 !== v) throw outOfRange('unsigned varint', v);
    this.ensure(5);
    const b = this.scratch;
    let p = this.pos;
    while (v >= 0x80) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** Zigzag int32. */
  varint(v: number): void {
    if ((v | 0) !== v) throw outOfRange('varint', v);
    this.uvarint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** Unsigned LEB128 of a uint64. */
  uvarlong(v: bigint): void {
    if (typeof v !== 'bigint' || BigInt.asUintN(64, v) !== v) throw outOfRange('unsigned varlong', v);
    this.ensure(10);
    const b = this.scratch;
    let p = this.pos;
    while (v >= 0x80n) {
      b[p++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    b[p++] = Number(v);
    this.pos = p;
  }

  /** Zigzag int64. */
  varlong(v: bigint): void {
    if (typeof v !== 'bigint' || BigInt.asIntN(64, v) !== v) throw outOfRange('varlong', v);
    this.uvarlong(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  // ---- strings ------------------------------------------------------------------------------------------------

  string(v: string): void {
    const len = stringBytes(v);
    this.put16(len);
    this.utf8(v, len);
  }

  nullableString(v: string | null): void {
    if (v === null) {
      this.put16(0xffff);
      return;
    }
    this.string(v);
  }

  compactString(v: string): void {
    const len = stringBytes(v);
    this.uvarint(len + 1);
    this.utf8(v, len);
  }

  compactNullableString(v: string | null): void {
    if (v === null) {
      this.uvarint(0);
      return;
    }
    this.compactString(v);
  }

  private utf8(v: string, len: number): void {
    this.ensure(len);
    this.scratch.write(v, this.pos, len, 'utf8');
    this.pos += len;
  }

  // ---- bytes --------------------------------------------------------------------------------------------------

  bytes(v: Buffer): void {
    this.int32(bufferLength(v));
    this.raw(v);
  }

  nullableBytes(v: Buffer | null): void {
    if (v === null) this.put32(-1);
    else this.bytes(v);
  }

  compactBytes(v: Buffer): void {
    this.uvarint(bufferLength(v) + 1);
    this.raw(v);
  }

  compactNullableBytes(v: Buffer | null): void {
    if (v === null) this.uvarint(0);
    else this.compactBytes(v);
  }

  /** RECORDS in non-flexible versions: like NULLABLE_BYTES, but the data is always appended by reference. */
  nullableRecords(v: Buffer | null): void {
    if (v === null) {
      this.put32(-1);
      return;
    }
    this.int32(bufferLength(v));
    this.appendRef(v);
  }

  /** RECORDS in flexible versions: like COMPACT_NULLABLE_BYTES, but always appended by reference. */
  compactNullableRecords(v: Buffer | null): void {
    if (v === null) {
      this.uvarint(0);
      return;
    }
    this.uvarint(bufferLength(v) + 1);
    this.appendRef(v);
  }

  // ---- arrays -------------------------------------------------------------------------------------------------

  /** ARRAY length (int32; null = -1). */
  arrayLength(n: number | null): void {
    this.int32(n === null ? -1 : n);
  }

  /** COMPACT_ARRAY length (uvarint N+1; null = 0). */
  compactArrayLength(n: number | null): void {
    this.uvarint(n === null ? 0 : n + 1);
  }

  array<T>(compact: boolean, items: readonly T[], writeElement: ElementWriter<T>, version: number): void {
    if (!Array.isArray(items)) throw outOfRange('array', items);
    if (compact) this.uvarint(items.length + 1);
    else this.int32(items.length);
    for (let i = 0; i < items.length; i++) writeElement(this, version, items[i]);
  }

  nullableArray<T>(compact: boolean, items: readonly T[] | null, writeElement: ElementWriter<T>, version: number): void {
    if (items === null) {
      if (compact) this.uvarint(0);
      else this.put32(-1);
      return;
    }
    this.array(compact, items, writeElement, version);
  }

  // ---- tagged fields (KIP-482) --------------------------------------------------------------------------------

  /** A complete tagged-field section holding only raw (unknown) fields: count, then each field. */
  taggedFields(fields: readonly TaggedField[] | undefined): void {
    if (fields === undefined || fields.length === 0) {
      this.uvarint(0);
      return;
    }
    this.uvarint(fields.length);
    for (const f of fields) this.rawTaggedField(f);
  }

  /**
   * Writes the raw fields from `fields[index]` on whose tag is below `beforeTag` and returns the index of the first
   * one not written. Generated encoders call it before each known tag so that the section stays sorted by tag
   * (fields decoded from the wire are already in wire order).
   */
  rawTaggedFieldsBefore(fields: readonly TaggedField[] | undefined, index: number, beforeTag: number): number {
    if (fields === undefined) return index;
    while (index < fields.length && fields[index].tag < beforeTag) this.rawTaggedField(fields[index++]);
    return index;
  }

  private rawTaggedField(f: TaggedField): void {
    this.uvarint(f.tag);
    this.uvarint(bufferLength(f.data));
    this.raw(f.data);
  }

  /** A known tagged field: tag, size, then the value that `value` (a separate writer) holds. */
  taggedValue(tag: number, value: Writer): void {
    this.uvarint(tag);
    this.uvarint(value.length);
    this.appendWriter(value);
  }
}

function stringBytes(v: string): number {
  if (typeof v !== 'string') throw outOfRange('string', v);
  const len = Buffer.byteLength(v, 'utf8');
  if (len > MAX_STRING_BYTES) {
    throw new KafkaCodecError(KafkaCodecErrorCode.INVALID_VALUE, `string of ${len} bytes exceeds ${MAX_STRING_BYTES}`);
  }
  return len;
}

function bufferLength(v: Buffer): number {
  if (!Buffer.isBuffer(v)) throw outOfRange('bytes', v);
  return v.length;
}

function outOfRange(type: string, v: unknown): KafkaCodecError {
  const shown = typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : String(v);
  return new KafkaCodecError(KafkaCodecErrorCode.INVALID_VALUE, `${shown} is not a valid ${type}`);
}
