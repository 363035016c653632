// CRC-32C (Castagnoli), the checksum of Kafka's magic-2 RecordBatch (docs/protocol-notes.md §b), plus the GF(2) algebra that lets
// the proxy fix up a batch's CRC after changing a few header bytes without reading the whole batch again.
//
// Conventions: every CRC value here is the *finished* CRC (init 0xFFFFFFFF, reflected polynomial 0x82F63B78,
// final xor 0xFFFFFFFF), as an unsigned 32-bit number. "raw" means the bare register update with init 0 and no
// final xor; it is linear in the data, which is what the combine/patch algebra relies on.

import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** The Castagnoli polynomial, bit-reflected (LSB-first), as used by Kafka's `Crc32C`. */
export const CRC32C_POLYNOMIAL_REFLECTED = 0x82f63b78;

/**
 * CRC-32C of `buf[start, end)`, computed natively (SSE4.2 / ARMv8 CRC instructions via @node-rs/crc32).
 * `subarray` makes a view, so no bytes are copied.
 */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  checkRange(buf, start, end);
  return nativeCrc32c(start === 0 && end === buf.length ? buf : buf.subarray(start, end)) >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Pure-JS slicing-by-8. The native function is the one to use; this one exists as an independent implementation
// for tests and as the baseline in bench/crc32c.ts. SLICES[k*256 + b] is the CRC contribution of byte b followed
// by k zero bytes, so eight bytes can be folded per step with eight table lookups.

const SLICES = buildSlicingTables();

function buildSlicingTables(): Int32Array {
  const tables = new Int32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ CRC32C_POLYNOMIAL_REFLECTED : c >>> 1;
    tables[b] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let b = 0; b < 256; b++) {
      const prev = tables[(k - 1) * 256 + b];
      tables[k * 256 + b] = (prev >>> 8) ^ tables[prev & 0xff];
    }
  }
  return tables;
}

/**
 * CRC-32C of `buf[start, end)` in pure JavaScript (table-driven, slicing-by-8). `previous` continues a CRC over
 * data that came before (`crc32cPureJs(b, 0, b.length, crc32cPureJs(a))` is the CRC of `a ++ b`).
 */
export function crc32cPureJs(buf: Uint8Array, start = 0, end = buf.length, previous = 0): number {
  checkRange(buf, start, end);
  const t = SLICES;
  let c = ~previous;
  let i = start;
  const end8 = start + ((end - start) & ~7);
  while (i < end8) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    const hi = buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24);
    c =
      t[1792 + (c & 0xff)] ^
      t[1536 + ((c >>> 8) & 0xff)] ^
      t[1280 + ((c >>> 16) & 0xff)] ^
      t[1024 + (c >>> 24)] ^
      t[768 + (hi & 0xff)] ^
      t[512 + ((hi >>> 8) & 0xff)] ^
      t[256 + ((hi >>> 16) & 0xff)] ^
      t[hi >>> 24];
    i += 8;
  }
  while (i < end) c = t[(c ^ buf[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Zero operators. Feeding n zero bytes through the CRC register is a linear map Z_n on GF(2)^32 (zlib's
// crc32_combine idea). We keep Z_{2^k} for each k, so Z_n for any n is the product of the operators for the set
// bits of n: O(log n) steps. Each operator is stored as four 256-entry byte tables (table j, entry b = Z(b << 8j)),
// so applying one is four lookups instead of a 32-column matrix-vector product. The operators for k < 32 are
// built at load (32K entries, well under a millisecond); larger ones are added on demand.

// Tables are Int32Array, not Uint32Array: values >= 2^31 read from a Uint32Array leave V8's int32 fast path and
// become doubles, which made every step several times slower. XOR works on the int32 bits either way; results are
// turned unsigned (>>> 0) only at the API boundary.

const OPERATOR_SIZE = 1024;
/** Z_{2^k} for k < 32; operator k occupies [k * 1024, (k + 1) * 1024). 128 KiB. */
const ZERO_OPERATORS = new Int32Array(32 * OPERATOR_SIZE);
/** Z_{2^k} for k >= 32 (more than 4 GiB of zeros; never needed for Kafka), built on demand. */
const LARGE_ZERO_OPERATORS: Int32Array[] = [];

function applyOperator(t: Int32Array, base: number, v: number): number {
  return (
    t[base + (v & 0xff)] ^
    t[base + 256 + ((v >>> 8) & 0xff)] ^
    t[base + 512 + ((v >>> 16) & 0xff)] ^
    t[base + 768 + (v >>> 24)]
  );
}

/** Writes, at `base` in `t`, the byte tables of the linear map whose column i (the image of bit i) is `columns[i]`. */
function writeOperator(t: Int32Array, base: number, columns: Int32Array): void {
  for (let j = 0; j < 4; j++) {
    const tableBase = base + j * 256;
    t[tableBase] = 0;
    for (let b = 1; b < 256; b++) {
      const lowest = b & -b;
      t[tableBase + b] = t[tableBase + (b ^ lowest)] ^ columns[8 * j + 31 - Math.clz32(lowest)];
    }
  }
}

/** Columns of M∘M for the operator M stored at `base` in `t`. */
function squaredColumns(t: Int32Array, base: number): Int32Array {
  const columns = new Int32Array(32);
  for (let i = 0; i < 32; i++) columns[i] = applyOperator(t, base, applyOperator(t, base, 1 << i));
  return columns;
}

function buildZeroOperators(): void {
  const oneByte = new Int32Array(32);
  for (let i = 0; i < 32; i++) {
    let c = 1 << i;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ CRC32C_POLYNOMIAL_REFLECTED : c >>> 1;
    oneByte[i] = c;
  }
  writeOperator(ZERO_OPERATORS, 0, oneByte);
  for (let k = 1; k < 32; k++) {
    writeOperator(ZERO_OPERATORS, k * OPERATOR_SIZE, squaredColumns(ZERO_OPERATORS, (k - 1) * OPERATOR_SIZE));
  }
}

buildZeroOperators();

function largeZeroOperator(k: number): Int32Array {
  while (LARGE_ZERO_OPERATORS.length <= k - 32) {
    const last = LARGE_ZERO_OPERATORS.length;
    const columns =
      last === 0
        ? squaredColumns(ZERO_OPERATORS, 31 * OPERATOR_SIZE)
        : squaredColumns(LARGE_ZERO_OPERATORS[last - 1], 0);
    const op = new Int32Array(OPERATOR_SIZE);
    writeOperator(op, 0, columns);
    LARGE_ZERO_OPERATORS.push(op);
  }
  return LARGE_ZERO_OPERATORS[k - 32];
}

const TWO_POW_32 = 4294967296;

/**
 * Applies Z_n: the register value after feeding `zeroBytes` zero bytes into a raw (init 0, no final xor) CRC
 * register holding `value`. O(log n).
 */
export function crc32cShift(value: number, zeroBytes: number): number {
  checkLength('zeroBytes', zeroBytes);
  let v = value | 0;
  // Below 4 GiB (always, for Kafka batches) the int32 path is enough; larger counts take the float split.
  const small = zeroBytes < TWO_POW_32;
  let low = small ? zeroBytes | 0 : zeroBytes % TWO_POW_32 | 0;
  let high = small ? 0 : Math.floor(zeroBytes / TWO_POW_32);
  while (low !== 0) {
    v = applyOperator(ZERO_OPERATORS, (31 - Math.clz32(low & -low)) * OPERATOR_SIZE, v);
    low &= low - 1;
  }
  for (let k = 32; high !== 0; k++, high = Math.floor(high / 2)) {
    if (high % 2 === 1) v = applyOperator(largeZeroOperator(k), 0, v);
  }
  return v >>> 0;
}

/**
 * CRC-32C of `A ++ B` from `crcA = crc32c(A)`, `crcB = crc32c(B)` and `lenB = B.length` (zlib's crc32_combine).
 * The init/xorout terms cancel because both CRCs use the same 0xFFFFFFFF constants:
 * crc(A++B) = Z_lenB(crcA) ^ crcB.
 */
export function crc32cCombine(crcA: number, crcB: number, lenB: number): number {
  return (crc32cShift(crcA, lenB) ^ crcB) >>> 0;
}

/**
 * CRC-32C of a buffer after bytes `[patchOffset, patchOffset + oldBytes.length)` were replaced by `newBytes`,
 * derived from the old CRC in O(log totalLen) without looking at the rest of the buffer.
 *
 * For equal-length inputs the init and xorout terms cancel, and the CRC is linear in the data, so
 * crc(new) = crc(old) ^ raw(old ^ new), where old ^ new is zero outside the patch. Leading zeros leave a raw
 * register at 0, so raw(delta) is the raw CRC of the changed bytes, shifted through the trailing zero bytes.
 *
 * `totalLen` is the length of the whole checksummed range; `patchOffset` is relative to its start. `oldBytes` must
 * still hold the old values when this is called (pass a view of the buffer before you overwrite it).
 */
export function crc32cPatch(
  oldCrc: number,
  totalLen: number,
  patchOffset: number,
  oldBytes: Uint8Array,
  newBytes: Uint8Array,
): number {
  const len = oldBytes.length;
  if (newBytes.length !== len) {
    throw new RangeError(`crc32cPatch: oldBytes (${len}) and newBytes (${newBytes.length}) differ in length`);
  }
  checkLength('totalLen', totalLen);
  checkLength('patchOffset', patchOffset);
  if (patchOffset + len > totalLen) {
    throw new RangeError(`crc32cPatch: patch [${patchOffset}, ${patchOffset + len}) exceeds totalLen ${totalLen}`);
  }
  const t = SLICES;
  let raw = 0;
  for (let i = 0; i < len; i++) raw = t[(raw ^ oldBytes[i] ^ newBytes[i]) & 0xff] ^ (raw >>> 8);
  if (raw === 0) return oldCrc >>> 0;
  return (oldCrc ^ crc32cShift(raw, totalLen - patchOffset - len)) >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------

function checkRange(buf: Uint8Array, start: number, end: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > buf.length) {
    throw new RangeError(`crc32c: range [${start}, ${end}) is outside a buffer of ${buf.length} bytes`);
  }
}

function checkLength(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`crc32c: ${name} must be a non-negative integer, got ${n}`);
}
