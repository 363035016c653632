// FramePool (src/proxy/frame-pool.ts): client frames of a size class come back as the same memory once given back;
// buffers it did not hand out, second gives and frames outside the pooled range are never taken in; free memory is
// bounded. With a FrameReader it yields exactly-sized frames whose bytes are the stream's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FramePool } from '../../src/proxy/frame-pool.ts';
import { FrameReader } from '../../protocol/frame-reader.ts';

test('a given-back frame is reused for the next frame of its size class; frames are exactly their size', () => {
  const pool = new FramePool();
  const a = pool.take(90_000);
  assert.equal(a.length, 90_000);
  const store = a.buffer;
  pool.give(a);
  const b = pool.take(70_000); // same 128 KiB class
  assert.equal(b.length, 70_000);
  assert.equal(b.buffer, store, 'the same memory');
  const c = pool.take(100_000);
  assert.notEqual(c.buffer, store, 'b is still out: c gets new memory');
  assert.deepEqual([pool.reused, pool.allocated], [1, 2]);
});

test('only its own frames, once each, come back; small and huge frames are plain buffers', () => {
  const pool = new FramePool();
  const small = pool.take(100);
  const huge = pool.take(2 * 1024 * 1024);
  pool.give(small);
  pool.give(huge);
  pool.give(Buffer.allocUnsafeSlow(64 * 1024));
  assert.equal(pool.freeBytes, 0);
  const f = pool.take(10_000);
  pool.give(f);
  pool.give(f);
  assert.equal(pool.freeBytes, 16 * 1024, 'a second give is ignored');
  const g = pool.take(9_000);
  assert.equal(g.buffer, f.buffer, 'f\'s memory serves g');
  pool.give(f);
  const h = pool.take(9_000);
  assert.notEqual(g.buffer, h.buffer, 'a stale give of f does not free g, which now owns that memory');
});

test('free memory is bounded', () => {
  const pool = new FramePool(256 * 1024);
  const frames = Array.from({ length: 4 }, () => pool.take(100_000));
  for (const f of frames) pool.give(f);
  assert.equal(pool.freeBytes, 256 * 1024, 'two 128 KiB buffers kept, two dropped');
});

test('with a FrameReader over reused chunks: frames are copies of the stream bytes in pooled memory', () => {
  const pool = new FramePool();
  const reader = new FrameReader({ reusedChunks: true, allocate: (n) => pool.take(n) });
  const payload = Buffer.alloc(50_000);
  for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  const stream = Buffer.concat([size, payload, size, payload]);
  const chunk = Buffer.alloc(65_536); // one read buffer, overwritten by every read
  const frames: Buffer[] = [];
  for (let off = 0; off < stream.length; off += chunk.length) {
    const n = stream.copy(chunk, 0, off, Math.min(stream.length, off + chunk.length));
    frames.push(...reader.push(chunk.subarray(0, n)));
    chunk.fill(0xee);
  }
  assert.equal(frames.length, 2);
  for (const f of frames) assert.ok(f.equals(payload));
  assert.equal(pool.allocated, 2);
  pool.give(frames[0]);
  const again = reader.push(Buffer.concat([size, payload]));
  assert.ok(again[0].equals(payload));
  assert.equal(again[0].buffer, frames[0].buffer, 'the given-back memory carries the next frame');
});
