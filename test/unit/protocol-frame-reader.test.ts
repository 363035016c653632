// FrameReader: splitting a byte stream into frames whatever the chunking, without copying more than needed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { KafkaCodecError } from '../../protocol/errors.ts';
import { FrameReader, frameOf } from '../../protocol/frame-reader.ts';

function frame(size: number, fill: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = (fill + i) & 0xff;
  return body;
}

function stream(bodies: Buffer[]): Buffer {
  return Buffer.concat(bodies.flatMap((b) => frameOf([b])));
}

const BODIES = [frame(10, 1), frame(0, 0), frame(1, 9), frame(70_000, 3), frame(3, 200), frame(4096, 5)];

function feed(reader: FrameReader, chunks: Buffer[]): Buffer[] {
  return chunks.flatMap((c) => reader.push(c));
}

test('one chunk holding several frames (coalesced)', () => {
  const data = stream(BODIES);
  const frames = new FrameReader().push(data);
  assert.deepEqual(frames, BODIES);
  for (const f of frames) assert.equal(f.buffer, data.buffer, 'frames inside one chunk are slices of it');
});

test('byte-at-a-time chunks', () => {
  const data = stream(BODIES);
  const reader = new FrameReader();
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i++) chunks.push(data.subarray(i, i + 1));
  assert.deepEqual(feed(reader, chunks), BODIES);
  assert.equal(reader.bufferedBytes, 0);
});

test('any chunking yields the same frames', () => {
  const data = stream(BODIES);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: data.length - 1 }), { maxLength: 40 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), data.length];
      const chunks = points.slice(1).map((end, i) => data.subarray(points[i], end));
      assert.deepEqual(feed(new FrameReader(), chunks), BODIES);
    }),
    { numRuns: 300 },
  );
});

test('a frame spanning chunks is assembled into one buffer of exactly its size', () => {
  const body = frame(50_000, 7);
  const data = stream([body]);
  const reader = new FrameReader();
  assert.deepEqual(reader.push(data.subarray(0, 2)), []); // half of the size prefix
  assert.deepEqual(reader.push(data.subarray(2, 20_000)), []);
  assert.equal(reader.bufferedBytes, 20_000 - 4);
  const [out] = reader.push(data.subarray(20_000));
  assert.ok(out.equals(body));
  assert.equal(out.byteOffset, 0);
  assert.equal(out.buffer.byteLength, body.length, 'allocated once at the final size, no growth');
});

test('oversize and negative sizes are rejected before allocating', () => {
  const reader = new FrameReader({ maxFrameBytes: 1024 });
  const size = Buffer.alloc(4);
  size.writeInt32BE(1025);
  assert.throws(
    () => reader.push(size),
    (e: unknown) => e instanceof KafkaCodecError && e.code === 'FRAME_TOO_LARGE',
  );
  const split = new FrameReader({ maxFrameBytes: 1024 });
  assert.deepEqual(split.push(size.subarray(0, 3)), []);
  assert.throws(
    () => split.push(size.subarray(3)),
    (e: unknown) => e instanceof KafkaCodecError && e.code === 'FRAME_TOO_LARGE',
  );
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(
    () => new FrameReader().push(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0])),
    (e: unknown) => e instanceof KafkaCodecError && e.code === 'FRAME_TOO_LARGE',
  );
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
  assert.throws(
    () => new FrameReader().push(Buffer.from([0xff, 0xff, 0xff, 0xfe])),
    (e: unknown) => e instanceof KafkaCodecError && e.code === 'INVALID_LENGTH',
  );
  // Exactly the maximum is fine.
  const ok = new FrameReader({ maxFrameBytes: 3 }).push(Buffer.from([0, 0, 0, 3, 1, 2, 3]));
  assert.deepEqual(ok, [Buffer.from([1, 2, 3])]);
});

test('frameOf prefixes the total size of the chunks', () => {
  const a = Buffer.from('ab');
  const b = Buffer.from('cde');
  const chunks = frameOf([a, b]);
  assert.equal(chunks.length, 3);
  assert.equal(chunks[1], a);
  assert.equal(chunks[2], b);
  assert.equal(Buffer.concat(chunks).toString('hex'), '00000005' + Buffer.from('abcde').toString('hex'));
});
