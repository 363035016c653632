import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { crc32c, crc32cCombine, crc32cPatch, crc32cPureJs, crc32cShift } from '../../protocol/crc32c.ts';

// RFC 3720 (iSCSI) appendix B.4 test vectors plus the classic check value.
const KNOWN_VECTORS: Array<[name: string, data: Buffer, crc: number]> = [
  ['"123456789"', Buffer.from('123456789', 'ascii'), 0xe3069283],
  ['empty', Buffer.alloc(0), 0x00000000],
  ['32 zero bytes', Buffer.alloc(32, 0x00), 0x8a9136aa],
  ['32 0xFF bytes', Buffer.alloc(32, 0xff), 0x62a8ab43],
  ['32 ascending bytes', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
  ['32 descending bytes', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
];

test('known vectors: native and pure JS', () => {
  for (const [name, data, expected] of KNOWN_VECTORS) {
    assert.equal(crc32c(data), expected, `native ${name}`);
    assert.equal(crc32cPureJs(data), expected, `pure JS ${name}`);
  }
});

test('start/end select a sub-range of the buffer', () => {
  const data = Buffer.concat([Buffer.from('xx'), Buffer.from('123456789'), Buffer.from('yyy')]);
  assert.equal(crc32c(data, 2, 11), 0xe3069283);
  assert.equal(crc32cPureJs(data, 2, 11), 0xe3069283);
  assert.equal(crc32c(data, 5, 5), 0);
  assert.equal(crc32c(data.subarray(2), 0, 9), 0xe3069283);
});

test('bad ranges throw RangeError', () => {
  const data = Buffer.alloc(10);
  for (const [start, end] of [[-1, 5], [5, 4], [0, 11], [1.5, 3], [0, Number.NaN]]) {
    assert.throws(() => crc32c(data, start, end), RangeError);
    assert.throws(() => crc32cPureJs(data, start, end), RangeError);
  }
});

test('results are unsigned 32-bit integers', () => {
  for (let i = 0; i < 200; i++) {
    const value = crc32c(randomBytes(i));
    assert.ok(Number.isInteger(value) && value >= 0 && value <= 0xffffffff);
  }
});

test('property: pure JS equals native for any buffer and range', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const buf = Buffer.from(bytes);
      const start = buf.length === 0 ? 0 : a % (buf.length + 1);
      const end = start + (buf.length === 0 ? 0 : b % (buf.length - start + 1));
      assert.equal(crc32cPureJs(buf, start, end), crc32c(buf, start, end));
    }),
    { numRuns: 500 },
  );
});

test('pure JS continues from a previous CRC', () => {
  const data = randomBytes(1000);
  assert.equal(crc32cPureJs(data, 300, 1000, crc32cPureJs(data, 0, 300)), crc32c(data));
});

test('property: combine(crc(A), crc(B), |B|) = crc(A ++ B)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }), (a, b) => {
      const joined = Buffer.concat([a, b]);
      assert.equal(crc32cCombine(crc32c(a), crc32c(b), b.length), crc32c(joined));
    }),
    { numRuns: 300 },
  );
});

test('combine with large lengths matches the native CRC of zero-filled data', () => {
  const zeros = Buffer.alloc(3 * 1024 * 1024 + 17);
  const head = randomBytes(100);
  assert.equal(crc32cCombine(crc32c(head), crc32c(zeros), zeros.length), crc32c(Buffer.concat([head, zeros])));
});

test('shift composes, including lengths of 2^32 bytes and more', () => {
  const v = 0xdeadbeef;
  for (const [a, b] of [
    [0, 0],
    [1, 2],
    [1000, 12345],
    [2 ** 31, 2 ** 31 + 5],
    [2 ** 32 - 1, 1],
    [2 ** 33 + 3, 2 ** 40 + 7],
  ]) {
    assert.equal(crc32cShift(crc32cShift(v, a), b), crc32cShift(v, a + b), `${a} + ${b}`);
  }
  assert.equal(crc32cShift(v, 0), v);
  assert.equal(crc32cShift(0, 2 ** 40), 0);
  assert.throws(() => crc32cShift(v, -1), RangeError);
  assert.throws(() => crc32cShift(v, 0.5), RangeError);
});

/** Applies the patch to a copy and returns [patched CRC from the algebra, CRC recomputed over the copy]. */
function patchBothWays(buf: Buffer, offset: number, replacement: Uint8Array): [number, number] {
  const oldCrc = crc32c(buf);
  const oldBytes = Buffer.from(buf.subarray(offset, offset + replacement.length));
  const copy = Buffer.from(buf);
  copy.set(replacement, offset);
  return [crc32cPatch(oldCrc, buf.length, offset, oldBytes, replacement), crc32c(copy)];
}

test('property: patch equals full recomputation for random buffers, offsets and patch lengths', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 5000 }),
      fc.nat(),
      fc.uint8Array({ maxLength: 64 }),
      (bytes, rawOffset, rawPatch) => {
        const buf = Buffer.from(bytes);
        const offset = rawOffset % buf.length;
        const replacement = rawPatch.subarray(0, buf.length - offset);
        const [patched, recomputed] = patchBothWays(buf, offset, replacement);
        assert.equal(patched, recomputed);
      },
    ),
    { numRuns: 1000 },
  );
});

test('property: patch works on a sub-range CRC (as in a batch: CRC over [21, end))', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 80, maxLength: 3000 }),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.integer({ min: -32768, max: 32767 }),
      (bytes, producerId, epoch) => {
        const buf = Buffer.from(bytes);
        const oldCrc = crc32c(buf, 21);
        const oldBytes = Buffer.from(buf.subarray(43, 53));
        const newBytes = Buffer.alloc(10);
        newBytes.writeBigInt64BE(producerId, 0);
        newBytes.writeInt16BE(epoch, 8);
        newBytes.copy(buf, 43);
        assert.equal(crc32cPatch(oldCrc, buf.length - 21, 43 - 21, oldBytes, newBytes), crc32c(buf, 21));
      },
    ),
    { numRuns: 500 },
  );
});

test('patch on 1 MiB buffers at the edges and in the middle', () => {
  const buf = randomBytes(1024 * 1024);
  for (const offset of [0, 1, 21, 22, 4096, 524_287, buf.length - 10, buf.length - 1]) {
    const replacement = randomBytes(Math.min(10, buf.length - offset));
    const [patched, recomputed] = patchBothWays(buf, offset, replacement);
    assert.equal(patched, recomputed, `offset ${offset}`);
  }
});

test('patch with identical or empty bytes keeps the CRC', () => {
  const buf = randomBytes(500);
  const crc = crc32c(buf);
  assert.equal(crc32cPatch(crc, 500, 100, buf.subarray(100, 110), Buffer.from(buf.subarray(100, 110))), crc);
  assert.equal(crc32cPatch(crc, 500, 500, Buffer.alloc(0), Buffer.alloc(0)), crc);
});

test('patch rejects mismatched lengths and out-of-range patches', () => {
  assert.throws(() => crc32cPatch(0, 100, 0, Buffer.alloc(2), Buffer.alloc(3)), RangeError);
  assert.throws(() => crc32cPatch(0, 100, 95, Buffer.alloc(10), Buffer.alloc(10)), RangeError);
  assert.throws(() => crc32cPatch(0, 100, -1, Buffer.alloc(1), Buffer.alloc(1)), RangeError);
  assert.throws(() => crc32cPatch(0, -5, 0, Buffer.alloc(0), Buffer.alloc(0)), RangeError);
});
