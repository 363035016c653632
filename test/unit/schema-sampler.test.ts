import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { SchemaSampler } from '../../src/gates/schema-sampler.ts';
import { BatchView, Compression } from '../../protocol/record-batch.ts';
import type { ScanResult } from '../../src/gates/schema-refs.ts';
import { buildBatch, encodeRecord } from '../support/build-batch.ts';

const MiB = 1024 * 1024;

function wire(id: number, rest: Buffer | string): Buffer {
  const b = Buffer.alloc(5);
  b.writeInt32BE(id, 1);
  return Buffer.concat([b, typeof rest === 'string' ? Buffer.from(rest) : rest]);
}

/** A compressed batch of at least `compressedBytes`: hex text of random bytes compresses about 2:1. */
function bigCompressedBatch(compression: number, compressedBytes: number, schemaId: number): BatchView {
  const records: Buffer[] = [];
  let raw = 0;
  for (let i = 0; raw < compressedBytes * 2.2; i++) {
    const r = encodeRecord({ key: `k${i}`, value: wire(schemaId, crypto.randomBytes(32 * 1024).toString('hex')) }, i);
    records.push(r);
    raw += r.length;
  }
  const plain = Buffer.concat(records);
  const payload = compression === Compression.gzip ? zlib.gzipSync(plain, { level: 1 }) : zlib.zstdCompressSync(plain);
  const batch = buildBatch({ attributes: compression, recordsCount: records.length, lastOffsetDelta: records.length - 1, recordsPayload: payload });
  return new BatchView(batch, 0);
}

/** Largest gap between ticks of a 2 ms interval while `work` runs: how long the event loop was blocked. */
async function maxTickGap(work: () => Promise<void>): Promise<number> {
  let last = performance.now();
  let max = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 2);
  await new Promise((r) => setTimeout(r, 20)); // let the interval settle before measuring
  max = 0;
  last = performance.now();
  await work();
  clearInterval(timer);
  return max;
}

test('sampling an 8 MiB compressed batch (gzip and zstd) never blocks the event loop', async () => {
  for (const codec of [Compression.gzip, Compression.zstd]) {
    const batch = bigCompressedBatch(codec, 8 * MiB, 42);
    assert.ok(batch.byteLength >= 8 * MiB, `batch is ${batch.byteLength} bytes`);
    // The baseline the old code paid inline: a synchronous inflate of the whole batch.
    const t0 = performance.now();
    if (codec === Compression.gzip) zlib.gunzipSync(batch.bytes.subarray(61));
    else zlib.zstdDecompressSync(batch.bytes.subarray(61));
    const syncMs = performance.now() - t0;

    const results: ScanResult[] = [];
    const sampler = new SchemaSampler((_topic, r) => results.push(r), { maxQueuedBytes: 64 * MiB });
    let offerMs = 0;
    const gap = await maxTickGap(async () => {
      const o0 = performance.now();
      for (let i = 0; i < 4; i++) assert.equal(sampler.offer('big', batch), true);
      offerMs = performance.now() - o0;
      await sampler.idle();
    });
    assert.equal(results.length, 4);
    for (const r of results) {
      assert.ok(r.recordsRead > 0);
      assert.deepEqual(new Set(r.refs.map((x) => x.id)), new Set([42]));
    }
    if (process.env.KMP_SAMPLER_FIGURES) console.log(`codec ${codec}: batch ${batch.byteLength} B, sync inflate ${syncMs.toFixed(1)} ms, max tick gap ${gap.toFixed(1)} ms, offer x4 ${offerMs.toFixed(2)} ms`);
    assert.ok(offerMs < 5, `offer() took ${offerMs.toFixed(2)} ms for four 8 MiB batches`);
    // Four samples ran while the interval kept ticking: the worst gap stays far below one synchronous inflate.
    assert.ok(gap < 40, `event loop blocked for ${gap.toFixed(1)} ms (one synchronous inflate: ${syncMs.toFixed(1)} ms)`);
    assert.ok(gap < syncMs, `gap ${gap.toFixed(1)} ms is not below the synchronous inflate (${syncMs.toFixed(1)} ms)`);
  }
});

test('the sampler honours its concurrency, byte and rate bounds, and skips codecs it cannot inflate', async () => {
  const big = bigCompressedBatch(Compression.gzip, 2 * MiB, 7);
  const size = big.byteLength - 61;
  let clock = 0;
  const seen: number[] = [];
  const sampler = new SchemaSampler(() => seen.push(1), { maxConcurrent: 2, maxQueuedBytes: 3 * size + 10, maxSamplesPerSecond: 100, now: () => clock });
  const accepted = Array.from({ length: 10 }, () => sampler.offer('t', big)).filter(Boolean).length;
  assert.equal(accepted, 3, 'only three batches fit in the byte budget');
  assert.equal(sampler.stats.droppedForBytes, 7);
  assert.ok(sampler.stats.maxQueuedBytesSeen <= 3 * size + 10);
  await sampler.idle();
  assert.equal(seen.length, 3);
  assert.equal(sampler.stats.maxInFlightSeen, 2);
  assert.equal(sampler.queuedBytes, 0, 'the budget is released when samples finish');

  const small = new BatchView(buildBatch({ records: [{ value: wire(1, 'x') }] }), 0);
  const rated = new SchemaSampler(() => {}, { maxSamplesPerSecond: 5, now: () => clock });
  const first = Array.from({ length: 8 }, () => rated.offer('t', small)).filter(Boolean).length;
  assert.equal(first, 5);
  assert.equal(rated.stats.droppedForRate, 3);
  clock += 1000; // a new one-second window
  assert.equal(rated.offer('t', small), true);
  const lz4 = new BatchView(buildBatch({ attributes: Compression.lz4, recordsCount: 1, lastOffsetDelta: 0, recordsPayload: Buffer.alloc(20) }), 0);
  assert.equal(rated.offer('t', lz4), false);
  assert.equal(rated.stats.unsupportedCodec, 1);
  await rated.idle();
});

test('a corrupt compressed batch is counted as failed, not thrown', async () => {
  const bad = new BatchView(buildBatch({ attributes: Compression.gzip, recordsCount: 1, lastOffsetDelta: 0, recordsPayload: Buffer.from('not gzip at all') }), 0);
  const sampler = new SchemaSampler(() => assert.fail('no result for a corrupt batch'));
  assert.equal(sampler.offer('t', bad), true);
  await sampler.idle();
  assert.equal(sampler.stats.failed, 1);
});
