// Bounds-checked reading of Kafka primitive types from a Buffer.
//
// Every read checks against `end` *before* touching or allocating anything, because the input comes from the
// network: a length field that claims 2 GiB must cost one comparison, not an allocation. Byte fields are returned
// as slices of the input (zero copy) so record batches pass through the proxy without being copied; the price is
// that a decoded message keeps the whole input buffer alive.
//
// Integers are decoded by hand from the bytes instead of with Buffer#readInt32BE & co.: those methods repeat the
// bounds check against the whole buffer (we already checked against `end`) and throw RangeError, which callers
// would otherwise see instead of KafkaCodecError.

import { KafkaCodecError, KafkaCodecErrorCode } from './errors.ts';
import type { TaggedField } from './tagged-field.ts';
import { uuidFromBytes } from './uuid.ts';

/** Reads one array element. Generated decoders pass `(reader, version) => T` functions. */
export type ElementReader<T> = (r: Reader, version: number) => T;

/** Kafka caps (compact) strings at 32767 bytes in every version (`Short.MAX_VALUE`). */
const MAX_STRING_BYTES = 0x7fff;

export class Reader {
  readonly buf: Buffer;
  offset: number;
  /** Exclusive bound; reads past it fail. Narrowed temporarily while a tagged field's value is read. */
  end: number;

  constructor(buf: Buffer, offset = 0, end = buf.length) {
    if (!(Number.isInteger(offset) && Number.isInteger(end) && offset >= 0 && offset <= end && end <= buf.length)) {
      throw new RangeError(`Reader bounds [${offset}, ${end}) outside a buffer of ${buf.length} bytes`);
    }
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Throws unless `n` more bytes are available. */
  need(n: number): void {
    if (n > this.end - this.offset) throw truncated(n, this.end - this.offset);
  }

  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }

  // ---- fixed-size integers ------------------------------------------------------------------------------------

  int8(): number {
    this.need(1);
    return (this.buf[this.offset++] << 24) >> 24;
  }

  uint8(): number {
    this.need(1);
    return this.buf[this.offset++];
  }

  int16(): number {
    this.need(2);
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 2;
    return (((b[o] << 8) | b[o + 1]) << 16) >> 16;
  }

  uint16(): number {
    this.need(2);
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 2;
    return (b[o] << 8) | b[o + 1];
  }

  int32(): number {
    this.need(4);
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 4;
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  }

  uint32(): number {
    return this.int32() >>> 0;
  }

  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  float64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.offset);
    this.offset += 8;
    return v;
  }

  /** Like Kafka's `readByte() != 0`: any non-zero byte is true. */
  bool(): boolean {
    this.need(1);
    return this.buf[this.offset++] !== 0;
  }

  /** 16 raw bytes as a lowercase canonical UUID string; all zeros is ZERO_UUID ("no id"). */
  uuid(): string {
    this.need(16);
    const s = uuidFromBytes(this.buf, this.offset);
    this.offset += 16;
    return s;
  }

  // ---- varints ------------------------------------------------------------------------------------------------

  /** Unsigned LEB128 of at most 5 bytes holding a uint32 (Kafka `readUnsignedVarint`). */
  uvarint(): number {
    const b = this.buf;
    let o = this.offset;
    const end = this.end;
    if (o < end && b[o] < 0x80) {
      this.offset = o + 1;
      return b[o];
    }
    let result = 0;
    let factor = 1; // 2^(7*i); multiplication instead of << keeps bit 31 from turning the value negative
    for (let i = 0; i < 5; i++) {
      if (o >= end) throw truncated(1, 0);
      const byte = b[o++];
      // The fifth byte may only carry the top 4 bits of a uint32; anything more is a corrupt (or hostile) varint.
      if (i === 4 && byte > 0x0f) throw invalidVarint('unsigned varint', this.offset);
      result += (byte & 0x7f) * factor;
      if (byte < 0x80) {
        this.offset = o;
        return result;
      }
      factor *= 128;
    }
    throw invalidVarint('unsigned varint', this.offset);
  }

  /** Zigzag-encoded int32 (Kafka `readVarint`, used inside records). */
  varint(): number {
    const u = this.uvarint();
    return (u >>> 1) ^ -(u & 1);
  }

  /** Unsigned LEB128 of at most 10 bytes holding a uint64. */
  uvarlong(): bigint {
    const b = this.buf;
    let o = this.offset;
    const end = this.end;
    // The first 7 bytes (49 bits) fit a double exactly; switch to bigint only for longer encodings.
    let small = 0;
    let factor = 1;
    for (let i = 0; i < 7; i++) {
      if (o >= end) throw truncated(1, 0);
      const byte = b[o++];
      small += (byte & 0x7f) * factor;
      if (byte < 0x80) {
        this.offset = o;
        return BigInt(small);
      }
      factor *= 128;
    }
    let big = BigInt(small);
    for (let i = 7; i < 10; i++) {
      if (o >= end) throw truncated(1, 0);
      const byte = b[o++];
      // The tenth byte may only carry bit 63.
      if (i === 9 && byte > 0x01) throw invalidVarint('unsigned varlong', this.offset);
      big |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        this.offset = o;
        return big;
      }
    }
    throw invalidVarint('unsigned varlong', this.offset);
  }

  /** Zigzag-encoded int64 (Kafka `readVarlong`). */
  varlong(): bigint {
    const u = this.uvarlong();
    return (u >> 1n) ^ -(u & 1n);
  }

  // ---- strings ------------------------------------------------------------------------------------------------

  /** STRING: int16 length, then UTF-8. */
  string(): string {
    const len = this.int16();
    if (len < 0) throw unexpectedNull('string');
    return this.utf8(len);
  }

  /** NULLABLE_STRING: int16 length, -1 = null. */
  nullableString(): string | null {
    const len = this.int16();
    if (len < 0) {
      if (len === -1) return null;
      throw invalidLength('string', len);
    }
    return this.utf8(len);
  }

  /** COMPACT_STRING: uvarint length+1. */
  compactString(): string {
    const len = this.uvarint() - 1;
    if (len < 0) throw unexpectedNull('compact string');
    return this.utf8(len);
  }

  /** COMPACT_NULLABLE_STRING: uvarint length+1, 0 = null. */
  compactNullableString(): string | null {
    const len = this.uvarint() - 1;
    return len < 0 ? null : this.utf8(len);
  }

  private utf8(len: number): string {
    if (len > MAX_STRING_BYTES) throw invalidLength('string', len);
    if (len > this.end - this.offset) throw lengthBeyondEnd('string', len, this.end - this.offset);
    const start = this.offset;
    this.offset = start + len;
    return this.buf.toString('utf8', start, start + len);
  }

  // ---- bytes (returned as slices of the input, never copied) --------------------------------------------------

  /** BYTES: int32 length. */
  bytes(): Buffer {
    const len = this.int32();
    if (len < 0) throw unexpectedNull('bytes');
    return this.slice(len);
  }

  /** NULLABLE_BYTES (also non-flexible RECORDS): int32 length, -1 = null. */
  nullableBytes(): Buffer | null {
    const len = this.int32();
    if (len < 0) {
      if (len === -1) return null;
      throw invalidLength('bytes', len);
    }
    return this.slice(len);
  }

  /** COMPACT_BYTES: uvarint length+1. */
  compactBytes(): Buffer {
    const len = this.uvarint() - 1;
    if (len < 0) throw unexpectedNull('compact bytes');
    return this.slice(len);
  }

  /** COMPACT_NULLABLE_BYTES (also flexible RECORDS): uvarint length+1, 0 = null. */
  compactNullableBytes(): Buffer | null {
    const len = this.uvarint() - 1;
    return len < 0 ? null : this.slice(len);
  }

  /** The next `len` bytes as a slice sharing the input's memory. */
  slice(len: number): Buffer {
    if (len > this.end - this.offset) throw lengthBeyondEnd('bytes', len, this.end - this.offset);
    const start = this.offset;
    this.offset = start + len;
    return this.buf.subarray(start, start + len);
  }

  // ---- arrays -------------------------------------------------------------------------------------------------

  /** ARRAY length: int32, -1 = null (returned as -1). `minElementBytes` guards against absurd counts. */
  arrayLength(minElementBytes: number): number {
    const n = this.int32();
    if (n < 0) {
      if (n === -1) return -1;
      throw invalidLength('array', n);
    }
    this.checkCount(n, minElementBytes);
    return n;
  }

  /** COMPACT_ARRAY length: uvarint N+1, 0 = null (returned as -1). */
  compactArrayLength(minElementBytes: number): number {
    const n = this.uvarint() - 1;
    if (n >= 0) this.checkCount(n, minElementBytes);
    return n;
  }

  /**
   * Every element takes at least `minElementBytes` (the generator computes it from the schema, and it is at least
   * 1), so a count the remaining bytes cannot hold is rejected before an array is allocated: memory stays
   * proportional to the frame size whatever the count field says.
   */
  private checkCount(n: number, minElementBytes: number): void {
    const left = this.end - this.offset;
    if (n * Math.max(minElementBytes, 1) > left) {
      throw new KafkaCodecError(
        KafkaCodecErrorCode.INVALID_LENGTH,
        `array count ${n} needs at least ${n * Math.max(minElementBytes, 1)} bytes, ${left} left`,
      );
    }
  }

  /** A non-nullable (compact) array. */
  array<T>(compact: boolean, minElementBytes: number, readElement: ElementReader<T>, version: number): T[] {
    const n = compact ? this.compactArrayLength(minElementBytes) : this.arrayLength(minElementBytes);
    if (n < 0) throw unexpectedNull('array');
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(readElement(this, version));
    return out;
  }

  /** A (compact) array where null is allowed. */
  nullableArray<T>(
    compact: boolean,
    minElementBytes: number,
    readElement: ElementReader<T>,
    version: number,
  ): T[] | null {
    const n = compact ? this.compactArrayLength(minElementBytes) : this.arrayLength(minElementBytes);
    if (n < 0) return null;
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(readElement(this, version));
    return out;
  }

  // ---- tagged fields (KIP-482) --------------------------------------------------------------------------------

  /**
   * A tagged-field section of a struct that has no known tags in this version: every entry is kept raw.
   * Returns undefined for the usual empty section so that decoded objects get no extra property.
   */
  taggedFields(): TaggedField[] | undefined {
    let n = this.uvarint();
    if (n === 0) return undefined;
    const out: TaggedField[] = [];
    // No pre-allocation from `n`: each entry consumes at least two bytes, so the loop is bounded by the input.
    for (; n > 0; n--) {
      const tag = this.uvarint();
      out.push({ tag, data: this.slice(this.uvarint()) });
    }
    return out;
  }

  /** An unknown tagged field's value, after its tag and size were read. */
  rawTaggedField(tag: number, size: number): TaggedField {
    return { tag, data: this.slice(size) };
  }

  /**
   * Restricts reading to the next `size` bytes (a known tagged field's value) and returns the previous bound for
   * `popLimit`. A value cannot read past its declared size, and must use all of it.
   */
  pushLimit(size: number): number {
    if (size > this.end - this.offset) throw lengthBeyondEnd('tagged field', size, this.end - this.offset);
    const saved = this.end;
    this.end = this.offset + size;
    return saved;
  }

  popLimit(savedEnd: number): void {
    if (this.offset !== this.end) {
      throw new KafkaCodecError(
        KafkaCodecErrorCode.INVALID_TAGGED_FIELD,
        `tagged field value left ${this.end - this.offset} of its declared bytes unread`,
      );
    }
    this.end = savedEnd;
  }
}

// Errors are built out of line so that the hot read paths stay small enough to inline.

function truncated(wanted: number, left: number): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecErrorCode.TRUNCATED, `need ${wanted} more byte(s), ${left} left`);
}

function lengthBeyondEnd(what: string, len: number, left: number): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecErrorCode.INVALID_LENGTH, `${what} length ${len} exceeds the ${left} bytes left`);
}

function invalidLength(what: string, len: number): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecErrorCode.INVALID_LENGTH, `invalid ${what} length ${len}`);
}

function unexpectedNull(what: string): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecErrorCode.UNEXPECTED_NULL, `null ${what} where the field is not nullable`);
}

function invalidVarint(what: string, offset: number): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecErrorCode.INVALID_VARINT, `${what} at offset ${offset} is too long`);
}
