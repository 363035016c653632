// Schema-id sampling off the Produce hot path (issue #10 item 3). The Produce path only *offers* a batch: an O(1)
// check of the rate and byte budgets, then a reference to the batch's bytes goes into a queue. A worker drains the
// queue with bounded concurrency; compressed batches are inflated with zlib's asynchronous streams (the work runs
// on libuv's thread pool, the event loop only sees 16 KiB chunks) and inflation stops after `maxInflatedBytes`,
// because the first few records are all a sample needs. So a sampled 8 MiB batch never stalls other clients.
//
// Codecs: gzip and zstd (node:zlib). Snappy and lz4 need libraries the proxy does not carry: such batches are
// counted in `stats.unsupportedCodec` and not sampled.
//
// Holding a view of the client's frame is safe: a frame with a queued batch is never recycled (offer() returns true,
// and the Produce path marks the write recordsKept; src/proxy/frame-pool.ts), and the in-place producer-id rewrite touches only the 61-byte header, which a sample does not read. The byte
// budget bounds how much client memory the queue can keep alive.
import zlib from 'node:zlib';
import { BATCH_HEADER_SIZE, Compression, type BatchView } from '../../protocol/record-batch.ts';
import { scanSchemaRefs, type ScanResult } from './schema-refs.ts';

export interface SchemaSamplerOptions {
  /** Samples accepted per second, all topics together. Default 20. */
  readonly maxSamplesPerSecond?: number;
  /** Batch bytes queued or being sampled at once; a batch that does not fit is not sampled. Default 32 MiB. */
  readonly maxQueuedBytes?: number;
  /** Samples decompressing or being scanned at once. Default 2 (the thread pool has 4 threads, shared with fs/dns). */
  readonly maxConcurrent?: number;
  /** Inflate at most this much of a compressed batch. Default 1 MiB. */
  readonly maxInflatedBytes?: number;
  /** Records read per sample. Default 16. */
  readonly maxRecordsPerSample?: number;
  /** Monotonic milliseconds, for the rate window. */
  readonly now?: () => number;
}

export interface SamplerStats {
  offered: number;
  accepted: number;
  droppedForRate: number;
  droppedForBytes: number;
  unsupportedCodec: number;
  failed: number;
  completed: number;
  /** Highest number of samples in flight at once (tests check the concurrency bound with it). */
  maxInFlightSeen: number;
  /** Highest queued + in-flight byte total (tests check the byte bound with it). */
  maxQueuedBytesSeen: number;
}

interface Job {
  readonly topic: string;
  readonly compression: number;
  /** The batch's records section (after the 61-byte header): a view, not a copy. */
  readonly payload: Buffer;
}

export type SampleListener = (topic: string, result: ScanResult) => void;

/** Inflates the start of a compressed records section: at most about `maxBytes` of output (one chunk more). */
export function inflatePrefix(compression: number, input: Buffer, maxBytes: number): Promise<Buffer> {
  const z = compression === Compression.gzip ? zlib.createGunzip() : zlib.createZstdDecompress();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks, size));
      z.destroy();
    };
    z.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= maxBytes) finish();
    });
    z.on('end', finish);
    z.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
    z.end(input);
  });
}

export class SchemaSampler {
  readonly stats: SamplerStats = {
    offered: 0, accepted: 0, droppedForRate: 0, droppedForBytes: 0, unsupportedCodec: 0, failed: 0, completed: 0,
    maxInFlightSeen: 0, maxQueuedBytesSeen: 0,
  };
  readonly #queue: Job[] = [];
  readonly #listener: SampleListener;
  readonly #maxPerSecond: number;
  readonly #maxBytes: number;
  readonly #maxConcurrent: number;
  readonly #maxInflated: number;
  readonly #maxRecords: number;
  readonly #now: () => number;
  #windowStart = -Infinity;
  #windowCount = 0;
  #bytes = 0;
  #inFlight = 0;
  #idleWaiters: (() => void)[] = [];
  #closed = false;

  constructor(listener: SampleListener, opts: SchemaSamplerOptions = {}) {
    this.#listener = listener;
    this.#maxPerSecond = opts.maxSamplesPerSecond ?? 20;
    this.#maxBytes = opts.maxQueuedBytes ?? 32 * 1024 * 1024;
    this.#maxConcurrent = Math.max(1, opts.maxConcurrent ?? 2);
    this.#maxInflated = opts.maxInflatedBytes ?? 1024 * 1024;
    this.#maxRecords = opts.maxRecordsPerSample ?? 16;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Bytes queued or being sampled now. */
  get queuedBytes(): number {
    return this.#bytes;
  }

  /** Called on the Produce path: constant time, reads no record. True when the batch was queued. */
  offer(topic: string, batch: BatchView): boolean {
    if (this.#closed) return false;
    this.stats.offered++;
    const compression = batch.compression;
    if (compression !== Compression.none && compression !== Compression.gzip && compression !== Compression.zstd) {
      this.stats.unsupportedCodec++;
      return false;
    }
    const now = this.#now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    if (this.#windowCount >= this.#maxPerSecond) {
      this.stats.droppedForRate++;
      return false;
    }
    const size = batch.byteLength - BATCH_HEADER_SIZE;
    if (this.#bytes + size > this.#maxBytes) {
      this.stats.droppedForBytes++;
      return false;
    }
    this.#windowCount++;
    this.stats.accepted++;
    this.#bytes += size;
    if (this.#bytes > this.stats.maxQueuedBytesSeen) this.stats.maxQueuedBytesSeen = this.#bytes;
    const start = batch.offset + BATCH_HEADER_SIZE;
    this.#queue.push({ topic, compression, payload: batch.buffer.subarray(start, batch.offset + batch.byteLength) });
    // Never start work inside the Produce handler: the first step runs on a later turn of the event loop.
    if (this.#inFlight < this.#maxConcurrent) setImmediate(() => this.#pump());
    return true;
  }

  /** Resolves once nothing is queued or in flight (tests, shutdown). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Drops what is queued; samples in flight finish but report nothing. */
  close(): void {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) this.#bytes -= job.payload.length;
    this.#settleIdle();
  }

  #pump(): void {
    while (this.#inFlight < this.#maxConcurrent && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#inFlight++;
      if (this.#inFlight > this.stats.maxInFlightSeen) this.stats.maxInFlightSeen = this.#inFlight;
      void this.#run(job).finally(() => {
        this.#inFlight--;
        this.#bytes -= job.payload.length;
        this.#pump();
        this.#settleIdle();
      });
    }
  }

  async #run(job: Job): Promise<void> {
    try {
      const records = job.compression === Compression.none ? job.payload : await inflatePrefix(job.compression, job.payload, this.#maxInflated);
      // Bounded: at most maxRecords records of at most maxInflated bytes (or the batch itself when uncompressed).
      const result = scanSchemaRefs(records, this.#maxRecords);
      this.stats.completed++;
      if (!this.#closed) this.#listener(job.topic, result);
    } catch {
      // A batch that does not inflate is the broker's to refuse; the sample is simply lost.
      this.stats.failed++;
    }
  }

  #settleIdle(): void {
    if (this.#queue.length > 0 || this.#inFlight > 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
