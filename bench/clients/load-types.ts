// What every Node load generator (kafkajs, librdkafka) takes and returns, so scenarios treat them alike.
import type { LatencySummary } from '../lib/stats.ts';

export type LoadMode =
  /** As fast as possible: `records` in total, with a bounded number of outstanding sends/records. */
  | { kind: 'closed'; records: number }
  /**
   * Open loop at a fixed rate: records become due at `rate` per second, until `seconds` pass or `stop()` says so.
   * Latency is measured from when a record was *due*, not when it was handed to the client, so a stalled client
   * cannot hide its stall (no coordinated omission).
   */
  | { kind: 'paced'; rate: number; seconds: number; stop?: () => boolean };

export interface LoadOptions {
  bootstrap: string;
  /** Records go round-robin over these topics. */
  topics: string[];
  /** Record value size in bytes. */
  size: number;
  mode: LoadMode;
  /** Independent producer instances (each its own connection and producer id); the load is split between them. */
  producers?: number;
  /**
   * Give every record a unique value `<tag>:<producer>:<seq>:` padded to `size`, and report which were acknowledged
   * (for exactly-once checks). Without it all records share one payload buffer.
   */
  trackIds?: string;
  /** performance.now() that timeline times count from (default: when the load starts). */
  origin?: number;
}

export interface LoadResult {
  client: string;
  sent: number;
  acked: number;
  errors: number;
  /** The first few distinct error messages. */
  errorSamples: string[];
  /** From the first send to the last acknowledgement. */
  wallSeconds: number;
  recordsPerSec: number;
  /** Payload MiB per second (record values only, like ProducerPerformance's MB/sec). */
  mibPerSec: number;
  /** What one latency sample is: a send() call (kafkajs) or a record (librdkafka). */
  latencyUnit: 'send' | 'record' | 'tick';
  /** Milliseconds. */
  latency: LatencySummary;
  /** Per latency sample: seconds since the load started (when it was due/sent) and its latency in ms. */
  timeline: { at: Float64Array; latencyMs: Float64Array };
  /**
   * Ids (see trackIds) of acknowledged and of failed records. Each producer first sends one untimed "primer"
   * record (connections, metadata, producer id), which is in ackedIds but not in sent/acked or the latencies.
   */
  ackedIds: string[];
  failedIds: string[];
}

/** Live counters a scenario can read while the load runs. */
export interface LoadStatus {
  sent: number;
  acked: number;
  errors: number;
  /** Latencies (ms) since the last call of takeRecent(). */
  takeRecent(): number[];
}

export function payloadWithId(size: number, id: string): Buffer {
  const buf = Buffer.alloc(Math.max(size, id.length + 1), 0x78); // 'x'
  buf.write(`${id}:`, 0, 'latin1');
  return buf;
}

/** The id written by payloadWithId, or null. */
export function idOfPayload(value: string | null): string | null {
  if (value === null) return null;
  const last = value.lastIndexOf(':', 64);
  return last <= 0 ? null : value.slice(0, last);
}
