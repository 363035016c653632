// CRC-32C throughput: native (@node-rs/crc32) vs pure JS (slicing-by-8), and the O(log n) patch that
// rewriteProducer uses instead of a full pass. Run: `node bench/crc32c.ts [--seconds 2]`.
// The patch never reads the buffer, so its "equivalent GB/s" is the buffer size times patches per second: how fast
// a full recompute would have to be to keep up.

import { randomBytes } from 'node:crypto';
import { crc32c, crc32cPatch, crc32cPureJs } from '../protocol/crc32c.ts';
import { rewriteProducer } from '../protocol/record-batch.ts';

export interface BenchRow {
  name: string;
  bytes: number;
  opsPerSec: number;
  /** Bytes covered per second, in GB/s (1e9 bytes). */
  gbPerSec: number;
}

let sink = 0;

/** Runs `op` in growing chunks for about `seconds` (after a short warm-up) and returns operations per second. */
function measure(op: (i: number) => number, seconds: number): number {
  const warmUntil = performance.now() + Math.min(300, seconds * 200);
  let i = 0;
  while (performance.now() < warmUntil) sink ^= op(i++);
  let ops = 0;
  let chunk = 1;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < chunk; k++) sink ^= op(i++);
    ops += chunk;
    now = performance.now();
    if (chunk < 1 << 20 && now - start < seconds * 100) chunk *= 2;
  }
  return (ops * 1000) / (now - start);
}

function buildBatchLike(size: number): Buffer {
  // Any bytes do for the CRC; give it a valid magic-2 header so rewriteProducer accepts it.
  const buf = randomBytes(size);
  buf.writeBigInt64BE(0n, 0);
  buf.writeInt32BE(size - 12, 8);
  buf.writeInt8(2, 16);
  buf.writeUInt32BE(crc32c(buf, 21), 17);
  return buf;
}

export function runCrc32cBench(seconds = 2, sizes: readonly number[] = [1024 * 1024, 64 * 1024]): BenchRow[] {
  const rows: BenchRow[] = [];
  const row = (name: string, bytes: number, opsPerSec: number): void => {
    rows.push({ name, bytes, opsPerSec, gbPerSec: (opsPerSec * bytes) / 1e9 });
  };
  for (const size of sizes) {
    const buf = buildBatchLike(size);
    row('@node-rs/crc32 crc32c (native)', size, measure(() => crc32c(buf), seconds));
    row('pure JS slicing-by-8', size, measure(() => crc32cPureJs(buf), seconds / 2));

    // A 10-byte change (producerId + producerEpoch) at offset 22 of the CRC range [21, size).
    const oldCrc = crc32c(buf, 21);
    const oldBytes = Buffer.from(buf.subarray(43, 53));
    const newBytes = [randomBytes(10), randomBytes(10), randomBytes(10), randomBytes(10)];
    row('crc32cPatch, 10-byte change', size, measure((i) => crc32cPatch(oldCrc, size - 21, 22, oldBytes, newBytes[i & 3]), seconds));

    const ids = [1n, 2n, 3n, 4n];
    row('rewriteProducer (patch, in place)', size, measure((i) => {
      rewriteProducer(buf, 0, { producerId: ids[i & 3], producerEpoch: i & 0x7fff });
      return buf[17];
    }, seconds));
    row('rewriteProducer (fullRecompute)', size, measure((i) => {
      rewriteProducer(buf, 0, { producerId: ids[i & 3], producerEpoch: i & 0x7fff }, { fullRecompute: true });
      return buf[17];
    }, seconds));
  }
  return rows;
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

function formatNumber(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

export function formatTable(rows: readonly BenchRow[]): string {
  const lines = ['| implementation | buffer | ops/s | GB/s (equivalent for patch) |', '|---|---:|---:|---:|'];
  for (const r of rows) {
    const gb = r.gbPerSec >= 100 ? r.gbPerSec.toFixed(0) : r.gbPerSec.toFixed(2);
    lines.push(`| ${r.name} | ${formatSize(r.bytes)} | ${formatNumber(r.opsPerSec)} | ${gb} |`);
  }
  return lines.join('\n');
}

if (import.meta.main) {
  const secondsArg = process.argv.indexOf('--seconds');
  const seconds = secondsArg >= 0 ? Number(process.argv[secondsArg + 1]) : 2;
  if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
  console.log(`CRC-32C, Node ${process.version}, ${process.arch}, ~${seconds}s per row\n`);
  console.log(formatTable(runCrc32cBench(seconds)));
  if (sink === 0.5) console.log(sink); // keeps results observable so nothing is optimized away
}
