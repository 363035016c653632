// Reader and Writer: every primitive type, its byte layout, its edge values, and the errors for bad input.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KafkaCodecError } from '../../protocol/errors.ts';
import { Reader } from '../../protocol/reader.ts';
import type { TaggedField } from '../../protocol/tagged-field.ts';
import { ZERO_UUID, uuidFromKafkaString, uuidToKafkaString } from '../../protocol/uuid.ts';
import { Writer } from '../../protocol/writer.ts';

function bytesOf(write: (w: Writer) => void): Buffer {
  const w = new Writer();
  write(w);
  return w.toBuffer();
}

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KafkaCodecError, `expected KafkaCodecError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('fixed-size integers', () => {
  const cases: Array<{ type: string; values: Array<[number | bigint, string]> }> = [
    { type: 'int8', values: [[0, '00'], [-1, 'ff'], [127, '7f'], [-128, '80']] },
    { type: 'int16', values: [[0, '0000'], [-1, 'ffff'], [32767, '7fff'], [-32768, '8000'], [0x0102, '0102']] },
    { type: 'uint16', values: [[0, '0000'], [65535, 'ffff'], [0x8001, '8001']] },
    {
      type: 'int32',
      values: [[0, '00000000'], [-1, 'ffffffff'], [2147483647, '7fffffff'], [-2147483648, '80000000'], [0x01020304, '01020304']],
    },
    { type: 'uint32', values: [[0, '00000000'], [4294967295, 'ffffffff'], [0x80000000, '80000000']] },
    {
      type: 'int64',
      values: [
        [0n, '0000000000000000'],
        [-1n, 'ffffffffffffffff'],
        [2n ** 63n - 1n, '7fffffffffffffff'],
        [-(2n ** 63n), '8000000000000000'],
      ],
    },
  ];
  for (const { type, values } of cases) {
    test(`${type} layout and round trip`, () => {
      for (const [value, expected] of values) {
        const buf = bytesOf((w) => (w as unknown as Record<string, (x: number | bigint) => void>)[type](value));
        assert.equal(buf.toString('hex'), expected, `${type} ${value}`);
        const r = new Reader(buf);
        assert.equal((r as unknown as Record<string, () => number | bigint>)[type](), value);
        assert.equal(r.remaining, 0);
      }
    });
  }

  test('float64 and bool', () => {
    for (const x of [0, -0, 1.5, -1e300, Number.MAX_VALUE, Number.MIN_VALUE, Infinity]) {
      const r = new Reader(bytesOf((w) => w.float64(x)));
      assert.ok(Object.is(r.float64(), x));
    }
    assert.ok(Number.isNaN(new Reader(bytesOf((w) => w.float64(NaN))).float64()));
    assert.equal(bytesOf((w) => (w.bool(true), w.bool(false))).toString('hex'), '0100');
    // Like Kafka's readByte() != 0.
    assert.equal(new Reader(hex('02')).bool(), true);
  });

  test('writers reject values their type cannot hold', () => {
    const w = new Writer();
    throwsCode(() => w.int8(128), 'INVALID_VALUE');
    throwsCode(() => w.int16(-32769), 'INVALID_VALUE');
    throwsCode(() => w.uint16(-1), 'INVALID_VALUE');
    throwsCode(() => w.int32(2 ** 31), 'INVALID_VALUE');
    throwsCode(() => w.int32(1.5), 'INVALID_VALUE');
    throwsCode(() => w.uint32(2 ** 32), 'INVALID_VALUE');
    throwsCode(() => w.int64(2n ** 63n), 'INVALID_VALUE');
    throwsCode(() => w.int64(1 as unknown as bigint), 'INVALID_VALUE');
    throwsCode(() => w.int32(undefined as unknown as number), 'INVALID_VALUE');
    throwsCode(() => w.uvarint(-1), 'INVALID_VALUE');
    throwsCode(() => w.string('x'.repeat(0x8000)), 'INVALID_VALUE');
    throwsCode(() => w.uuid('not-a-uuid'), 'INVALID_VALUE');
    assert.equal(w.length, 0, 'nothing is written by a rejected value');
  });
});

describe('varints', () => {
  test('unsigned varint edges', () => {
    const cases: Array<[number, string]> = [
      [0, '00'],
      [1, '01'],
      [127, '7f'],
      [128, '8001'],
      [300, 'ac02'],
      [16383, 'ff7f'],
      [16384, '808001'],
      [2 ** 31, '8080808008'],
      [2 ** 32 - 1, 'ffffffff0f'],
    ];
    for (const [value, expected] of cases) {
      const buf = bytesOf((w) => w.uvarint(value));
      assert.equal(buf.toString('hex'), expected, `uvarint ${value}`);
      assert.equal(new Reader(buf).uvarint(), value);
    }
  });

  test('zigzag varint edges (int32)', () => {
    const cases: Array<[number, string]> = [
      [0, '00'],
      [-1, '01'],
      [1, '02'],
      [-64, '7f'],
      [64, '8001'],
      [2147483647, 'feffffff0f'],
      [-2147483648, 'ffffffff0f'],
    ];
    for (const [value, expected] of cases) {
      const buf = bytesOf((w) => w.varint(value));
      assert.equal(buf.toString('hex'), expected, `varint ${value}`);
      assert.equal(new Reader(buf).varint(), value);
    }
  });

  test('zigzag varlong edges (int64)', () => {
    const cases: Array<[bigint, string]> = [
      [0n, '00'],
      [-1n, '01'],
      [1n, '02'],
      [2n ** 31n, '8080808010'],
      [2n ** 63n - 1n, 'feffffffffffffffff01'],
      [-(2n ** 63n), 'ffffffffffffffffff01'],
      [-(2n ** 48n), 'ffffffffffff7f'],
      [2n ** 49n, '8080808080808002'],
    ];
    for (const [value, expected] of cases) {
      const buf = bytesOf((w) => w.varlong(value));
      assert.equal(buf.toString('hex'), expected, `varlong ${value}`);
      assert.equal(new Reader(buf).varlong(), value);
    }
    throwsCode(() => new Writer().varlong(2n ** 63n), 'INVALID_VALUE');
  });

  test('overlong and truncated varints are rejected', () => {
    throwsCode(() => new Reader(hex('ffffffff10')).uvarint(), 'INVALID_VARINT'); // 5th byte above 4 bits
    throwsCode(() => new Reader(hex('ffffffffff01')).uvarint(), 'INVALID_VARINT');
    throwsCode(() => new Reader(hex('ffffffffffffffffff02')).varlong(), 'INVALID_VARINT');
    throwsCode(() => new Reader(hex('8080')).uvarint(), 'TRUNCATED');
    throwsCode(() => new Reader(hex('ffffffffffffff')).varlong(), 'TRUNCATED');
    throwsCode(() => new Reader(Buffer.alloc(0)).varint(), 'TRUNCATED');
  });
});

describe('uuid', () => {
  test('canonical strings, zero uuid and Kafka base64 form', () => {
    const id = '0123abcd-4567-89ef-fedc-ba9876543210';
    const buf = bytesOf((w) => (w.uuid(id), w.uuid(ZERO_UUID)));
    assert.equal(buf.toString('hex'), '0123abcd456789effedcba9876543210' + '00'.repeat(16));
    const r = new Reader(buf);
    assert.equal(r.uuid(), id);
    assert.equal(r.uuid(), ZERO_UUID);
    assert.equal(uuidFromKafkaString(uuidToKafkaString(id)), id);
    assert.equal(uuidToKafkaString(ZERO_UUID), 'AAAAAAAAAAAAAAAAAAAAAA'); // Kafka's Uuid.ZERO_UUID.toString()
  });
});

describe('strings', () => {
  test('null versus empty, in classic and compact form', () => {
    assert.equal(bytesOf((w) => w.string('')).toString('hex'), '0000');
    assert.equal(bytesOf((w) => w.nullableString(null)).toString('hex'), 'ffff');
    assert.equal(bytesOf((w) => w.nullableString('')).toString('hex'), '0000');
    assert.equal(bytesOf((w) => w.compactString('')).toString('hex'), '01');
    assert.equal(bytesOf((w) => w.compactNullableString(null)).toString('hex'), '00');
    assert.equal(bytesOf((w) => w.compactNullableString('')).toString('hex'), '01');
    assert.equal(new Reader(hex('ffff')).nullableString(), null);
    assert.equal(new Reader(hex('0000')).nullableString(), '');
    assert.equal(new Reader(hex('00')).compactNullableString(), null);
    assert.equal(new Reader(hex('01')).compactNullableString(), '');
    assert.equal(new Reader(hex('01')).compactString(), '');
    throwsCode(() => new Reader(hex('ffff')).string(), 'UNEXPECTED_NULL');
    throwsCode(() => new Reader(hex('00')).compactString(), 'UNEXPECTED_NULL');
    throwsCode(() => new Reader(hex('fffe')).nullableString(), 'INVALID_LENGTH');
  });

  test('UTF-8 lengths are byte lengths', () => {
    const s = 'é✓𝄞 topic';
    const buf = bytesOf((w) => (w.string(s), w.compactString(s)));
    const r = new Reader(buf);
    assert.equal(r.string(), s);
    assert.equal(r.compactString(), s);
    assert.equal(buf.readInt16BE(0), Buffer.byteLength(s));
  });

  test('a length beyond the input fails before reading', () => {
    throwsCode(() => new Reader(hex('0005 6162')).string(), 'INVALID_LENGTH');
    throwsCode(() => new Reader(hex('06 6162')).compactString(), 'INVALID_LENGTH');
    throwsCode(() => new Reader(hex('ffffffff0f')).compactString(), 'INVALID_LENGTH');
  });
});

describe('bytes', () => {
  test('null versus empty, in classic and compact form', () => {
    assert.equal(bytesOf((w) => w.nullableBytes(null)).toString('hex'), 'ffffffff');
    assert.equal(bytesOf((w) => w.bytes(Buffer.alloc(0))).toString('hex'), '00000000');
    assert.equal(bytesOf((w) => w.compactNullableBytes(null)).toString('hex'), '00');
    assert.equal(bytesOf((w) => w.compactBytes(Buffer.alloc(0))).toString('hex'), '01');
    assert.equal(new Reader(hex('ffffffff')).nullableBytes(), null);
    assert.deepEqual(new Reader(hex('00000000')).nullableBytes(), Buffer.alloc(0));
    assert.equal(new Reader(hex('00')).compactNullableBytes(), null);
    assert.deepEqual(new Reader(hex('01')).compactNullableBytes(), Buffer.alloc(0));
    throwsCode(() => new Reader(hex('ffffffff')).bytes(), 'UNEXPECTED_NULL');
    throwsCode(() => new Reader(hex('00')).compactBytes(), 'UNEXPECTED_NULL');
  });

  test('decoded bytes are slices of the input, not copies', () => {
    const input = hex('00000003 0a0b0c 04 010203');
    const r = new Reader(input);
    const a = r.bytes();
    const b = r.compactBytes();
    assert.equal(a.buffer, input.buffer);
    assert.equal(a.byteOffset, input.byteOffset + 4);
    assert.equal(b.buffer, input.buffer);
    input[4] = 0xff;
    assert.equal(a[0], 0xff, 'shares memory with the input');
  });

  test('a huge length throws before any allocation', () => {
    const before = process.memoryUsage().arrayBuffers;
    throwsCode(() => new Reader(hex('7fffffff 00')).bytes(), 'INVALID_LENGTH');
    throwsCode(() => new Reader(hex('ffffffff07 00')).compactBytes(), 'INVALID_LENGTH');
    assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
  });

  test('small byte values are copied into the scratch buffer, large ones appended by reference', () => {
    const small = Buffer.from('abc');
    const large = Buffer.alloc(4096, 7);
    const w = new Writer();
    w.bytes(small);
    w.compactBytes(large);
    w.nullableRecords(small);
    const chunks = w.toChunks();
    assert.ok(!chunks.includes(small) || chunks.indexOf(small) === chunks.lastIndexOf(small));
    assert.ok(chunks.includes(large), 'large bytes appended by reference');
    assert.equal(chunks.filter((c) => c === small).length, 1, 'records are always appended by reference');
    assert.equal(w.length, Buffer.concat(chunks).length);
  });
});

describe('arrays', () => {
  test('null, empty and counted arrays', () => {
    const read = (r: Reader): number => r.int32();
    assert.equal(new Reader(hex('ffffffff')).nullableArray(false, 4, read, 0), null);
    assert.equal(new Reader(hex('00')).nullableArray(true, 4, read, 0), null);
    assert.deepEqual(new Reader(hex('00000000')).array(false, 4, read, 0), []);
    assert.deepEqual(new Reader(hex('03 00000001 ffffffff')).array(true, 4, read, 0), [1, -1]);
    throwsCode(() => new Reader(hex('ffffffff')).array(false, 4, read, 0), 'UNEXPECTED_NULL');
    throwsCode(() => new Reader(hex('fffffffe')).nullableArray(false, 4, read, 0), 'INVALID_LENGTH');
    const w = new Writer();
    w.nullableArray(false, null, (ww, _v, x: number) => ww.int32(x), 0);
    w.array(true, [5], (ww, _v, x: number) => ww.int32(x), 0);
    assert.equal(w.toBuffer().toString('hex'), 'ffffffff' + '02' + '00000005');
  });

  test('absurd counts are rejected before allocating', () => {
    const read = (r: Reader): number => r.int8();
    // 2^31-1 elements announced, 3 bytes present.
    throwsCode(() => new Reader(hex('7fffffff 010203')).array(false, 1, read, 0), 'INVALID_LENGTH');
    throwsCode(() => new Reader(hex('ffffffff0f 01')).array(true, 1, read, 0), 'INVALID_LENGTH');
    // Each element needs at least 4 bytes: 2 elements cannot fit in 7 bytes.
    throwsCode(() => new Reader(hex('00000002 01020304050607')).array(false, 4, read, 0), 'INVALID_LENGTH');
  });
});

describe('tagged fields', () => {
  test('unknown tags are kept raw and re-encoded identically', () => {
    const fields: TaggedField[] = [
      { tag: 1, data: hex('0102') },
      { tag: 200, data: Buffer.alloc(0) },
    ];
    const buf = bytesOf((w) => w.taggedFields(fields));
    assert.equal(buf.toString('hex'), '02' + '01' + '02' + '0102' + 'c801' + '00');
    const back = new Reader(buf).taggedFields();
    assert.deepEqual(back, fields);
    assert.equal(new Reader(hex('00')).taggedFields(), undefined);
    assert.equal(bytesOf((w) => w.taggedFields(undefined)).toString('hex'), '00');
  });

  test('raw fields merge with known tags in ascending order', () => {
    const raw: TaggedField[] = [
      { tag: 0, data: hex('aa') },
      { tag: 2, data: hex('bb') },
      { tag: 9, data: hex('cc') },
    ];
    const w = new Writer();
    let next = w.rawTaggedFieldsBefore(raw, 0, 1);
    const known = new Writer();
    known.int8(5);
    w.taggedValue(1, known);
    next = w.rawTaggedFieldsBefore(raw, next, 3);
    w.rawTaggedFieldsBefore(raw, next, Infinity);
    assert.equal(w.toBuffer().toString('hex'), '0001aa' + '010105' + '0201bb' + '0901cc');
  });

  test('a known tag value must use exactly its declared size', () => {
    const r = new Reader(hex('00000001 ff'));
    const end = r.pushLimit(4);
    throwsCode(() => r.int64(), 'TRUNCATED'); // cannot read past the declared size
    r.int16();
    throwsCode(() => r.popLimit(end), 'INVALID_TAGGED_FIELD'); // and must not leave bytes unread
    throwsCode(() => new Reader(hex('01')).pushLimit(5), 'INVALID_LENGTH');
  });
});

describe('bounds', () => {
  test('every fixed-size read fails with TRUNCATED on short input', () => {
    const reads: Array<[string, number, (r: Reader) => unknown]> = [
      ['int8', 1, (r) => r.int8()],
      ['int16', 2, (r) => r.int16()],
      ['uint16', 2, (r) => r.uint16()],
      ['int32', 4, (r) => r.int32()],
      ['uint32', 4, (r) => r.uint32()],
      ['int64', 8, (r) => r.int64()],
      ['float64', 8, (r) => r.float64()],
      ['bool', 1, (r) => r.bool()],
      ['uuid', 16, (r) => r.uuid()],
    ];
    for (const [name, size, read] of reads) {
      for (let len = 0; len < size; len++) {
        throwsCode(() => read(new Reader(Buffer.alloc(len))), 'TRUNCATED');
      }
      assert.doesNotThrow(() => read(new Reader(Buffer.alloc(size))), name);
    }
  });

  test('the end bound applies even when the underlying buffer is longer', () => {
    const buf = hex('0000000100000002');
    const r = new Reader(buf, 0, 4);
    assert.equal(r.int32(), 1);
    throwsCode(() => r.int32(), 'TRUNCATED');
    const s = new Reader(buf, 4);
    assert.equal(s.int32(), 2);
    assert.throws(() => new Reader(buf, 0, 9), RangeError);
  });
});

describe('Writer', () => {
  test('grows across scratch buffers and keeps referenced chunks in order', () => {
    const big = Buffer.alloc(100_000, 1);
    const w = new Writer({ initialCapacity: 16 });
    for (let i = 0; i < 10_000; i++) w.int32(i);
    w.appendRef(big);
    w.int8(-1);
    w.string('tail');
    const chunks = w.toChunks();
    assert.ok(chunks.includes(big));
    const all = Buffer.concat(chunks);
    assert.equal(all.length, 40_000 + 100_000 + 1 + 6);
    assert.equal(w.length, all.length);
    const r = new Reader(all);
    for (let i = 0; i < 10_000; i++) assert.equal(r.int32(), i);
    assert.ok(r.slice(100_000).equals(big));
    assert.equal(r.int8(), -1);
    assert.equal(r.string(), 'tail');
  });
});
