// Runs one load client (java | kafkajs | librdkafka) once against one bootstrap, with a progress line every
// second, and returns its numbers in one shape, so throughput and latency scenarios compare like with like.
import { fmt } from '../lib/stats.ts';
import { progress } from '../lib/progress.ts';
import { startJavaPerf, type JavaPerfResult } from './java-perf.ts';
import { startKafkajsLoad } from './kafkajs-load.ts';
import { startRdkafkaLoad } from './rdkafka-load.ts';

export const CLIENT_KINDS = ['java', 'kafkajs', 'rdkafka'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

export const CLIENT_LABELS: Record<ClientKind, string> = {
  java: 'Java ProducerPerformance',
  kafkajs: 'kafkajs',
  rdkafka: 'librdkafka',
};

export interface ClientTuning {
  kafkajsBatch: number;
  kafkajsConcurrency: number;
  kafkajsTickMs: number;
  rdkafkaWindow: number;
}

export interface ClientRunSpec {
  client: ClientKind;
  bootstrap: string;
  topic: string;
  size: number;
  mode: { kind: 'closed'; records: number } | { kind: 'paced'; rate: number; seconds: number };
  /** Producer instances (JVMs for java). */
  producers: number;
  tuning: ClientTuning;
  /** Progress label, e.g. "kafkajs proxy 1/2". */
  label: string;
  /** Extra text for the progress line (proxy CPU, RSS). */
  extraStatus?: () => string;
}

export interface ClientRunOutcome {
  client: ClientKind;
  /** Records acknowledged and counted in the numbers (java: after its warm-up records). */
  acked: number;
  /** Records acknowledged in total (java: warm-up included), i.e. what went through. */
  totalAcked: number;
  errors: number;
  errorSamples: string[];
  recordsPerSec: number;
  mibPerSec: number;
  /** Milliseconds; p90 is null for java (ProducerPerformance does not report it). */
  latency: { avg: number; p50: number; p90: number | null; p95: number; p99: number; p999: number; max: number };
  latencyUnit: 'record' | 'send' | 'tick';
  wallSeconds: number;
  /** ProducerPerformance summary lines, one per JVM. */
  javaSummaries?: string[];
}

function fromJava(results: JavaPerfResult[]): ClientRunOutcome {
  // Several JVMs: throughput adds up; for percentiles only each JVM's own are known, so report the worst.
  const worst = (f: (r: JavaPerfResult) => number): number => Math.max(...results.map(f));
  const rps = results.reduce((s, r) => s + r.recordsPerSec, 0);
  const acked = results.reduce((s, r) => s + r.records, 0);
  return {
    client: 'java',
    acked,
    totalAcked: results.reduce((s, r) => s + r.allRecords, 0),
    errors: results.reduce((s, r) => s + r.failedSends, 0),
    errorSamples: results.flatMap((r) => r.errorLines).slice(0, 5),
    recordsPerSec: rps,
    mibPerSec: results.reduce((s, r) => s + r.mibPerSec, 0),
    latency: { avg: worst((r) => r.avgMs), p50: worst((r) => r.p50), p90: null, p95: worst((r) => r.p95), p99: worst((r) => r.p99), p999: worst((r) => r.p999), max: worst((r) => r.maxMs) },
    latencyUnit: 'record',
    wallSeconds: rps > 0 ? acked / rps : Number.NaN,
    javaSummaries: results.map((r) => r.summaryLine),
  };
}

export async function runClient(spec: ClientRunSpec): Promise<ClientRunOutcome> {
  const extra = (): string => (spec.extraStatus ? `  ${spec.extraStatus()}` : '');
  if (spec.client === 'java') {
    const records = spec.mode.kind === 'closed' ? spec.mode.records : Math.round(spec.mode.rate * spec.mode.seconds);
    const throughput = spec.mode.kind === 'closed' ? -1 : spec.mode.rate;
    let last = '';
    const stop = progress(spec.label, () => `${last || 'starting JVM…'}${extra()}`);
    try {
      const perJvm = Math.ceil(records / spec.producers);
      const runs = Array.from({ length: spec.producers }, (_, i) =>
        startJavaPerf({
          bootstrap: spec.bootstrap,
          topic: spec.topic,
          records: perJvm,
          size: spec.size,
          throughput: throughput === -1 ? -1 : throughput / spec.producers,
          props: { 'client.id': `kmp-bench-java-${i}` },
          // Leave JVM start, metadata and producer-id set-up out of the numbers, as the Node clients do (primed).
          // Paced: 2 s worth, so the throttle's catch-up burst after the slow JVM start is over before measuring.
          warmupRecords: spec.mode.kind === 'paced' ? Math.min(Math.floor(perJvm / 4), Math.round((2 * spec.mode.rate) / spec.producers)) : Math.floor(perJvm / 10),
          onInterval: (iv) => {
            if (i === 0) last = `${fmt(iv.recordsPerSec, 0)} rec/s, ${fmt(iv.mibPerSec, 2)} MiB/s, avg ${fmt(iv.avgMs)} ms, max ${fmt(iv.maxMs, 0)} ms (JVM 1 of ${spec.producers})`;
          },
        }).done,
      );
      return fromJava(await Promise.all(runs));
    } finally {
      stop();
    }
  }
  const common = {
    bootstrap: spec.bootstrap,
    topics: [spec.topic],
    size: spec.size,
    producers: spec.producers,
    mode: spec.mode,
  };
  const load = spec.client === 'kafkajs'
    ? startKafkajsLoad({ ...common, batch: spec.tuning.kafkajsBatch, concurrency: spec.tuning.kafkajsConcurrency, tickMs: spec.tuning.kafkajsTickMs })
    : startRdkafkaLoad({ ...common, window: spec.tuning.rdkafkaWindow });
  let lastAcked = 0;
  let lastAt = performance.now();
  const stop = progress(spec.label, () => {
    const now = performance.now();
    const acked = load.status.acked;
    const rate = ((acked - lastAcked) * 1000) / (now - lastAt);
    lastAcked = acked;
    lastAt = now;
    const recent = load.status.takeRecent().sort((a, b) => a - b);
    const p99 = recent.length > 0 ? recent[Math.min(recent.length - 1, Math.ceil(recent.length * 0.99) - 1)] : Number.NaN;
    return `${fmt(acked, 0)} acked, ${fmt(rate, 0)} rec/s, ${fmt((rate * spec.size) / 2 ** 20, 2)} MiB/s, p99 ${fmt(p99)} ms, errors ${load.status.errors}${extra()}`;
  });
  try {
    const r = await load.done;
    return {
      client: spec.client,
      acked: r.acked,
      totalAcked: r.acked,
      errors: r.errors,
      errorSamples: r.errorSamples,
      recordsPerSec: r.recordsPerSec,
      mibPerSec: r.mibPerSec,
      latency: { avg: r.latency.avg, p50: r.latency.p50, p90: r.latency.p90, p95: r.latency.p95, p99: r.latency.p99, p999: r.latency.p999, max: r.latency.max },
      latencyUnit: r.latencyUnit,
      wallSeconds: r.wallSeconds,
    };
  } finally {
    stop();
  }
}
