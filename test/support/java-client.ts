// Java-client helpers for integration tests: produce through any bootstrap (the proxy or a broker) with the real
// Apache Kafka 4.3.1 producer from the test bed's jars.
//
// runJavaProducer uses test/support/java/KmpTestProducer.java instead of ConsoleProducer, because ConsoleProducer
// does not say which records were acknowledged. The class is compiled once with javac into
// .cache/kmp-java/<hash of the source>/ (a new hash when the source changes; compiled into a temp folder and
// renamed, so parallel test files do not trip over each other).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_DIR, LIBS_DIR } from '../../scripts/kafka/testbed.ts';
import { parseSummary } from '../../bench/clients/java-perf.ts';
import { reapAtEnd } from './reap.ts';

export interface JavaRecord {
  key: string | null;
  value: string | null;
  /** Another topic than the run's `topic` for this record (same producer session). */
  topic?: string;
}

export interface JavaDelivery {
  index: number;
  partition: number | null;
  offset: bigint | null;
  /** `<exception class>: <message>` when the record failed. */
  error: string | null;
}

export interface JavaProducerResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Records whose send callback reported success. */
  acked: number;
  failed: number;
  /** One entry per record that got a callback, ordered by record index. */
  deliveries: JavaDelivery[];
}

export interface RunJavaProducerOptions {
  bootstrap: string;
  topic: string;
  records: JavaRecord[];
  /** Producer properties; they override the defaults (enable.idempotence=true, acks=all, client.id=kmp-test-java). */
  props?: Record<string, string>;
  /** Kills the JVM after this long (default 120 s). */
  timeoutMs?: number;
}

const JAVA_SOURCE = path.join(import.meta.dirname, 'java', 'KmpTestProducer.java');

function kafkaClasspath(): string {
  return path.join(LIBS_DIR, '*');
}

/** Compiles KmpTestProducer once per source version and returns the folder that holds its class files. */
export function ensureJavaTestProducer(): string {
  const source = fs.readFileSync(JAVA_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const classesDir = path.join(CACHE_DIR, 'kmp-java', hash);
  if (fs.existsSync(path.join(classesDir, 'KmpTestProducer.class'))) return classesDir;
  const tmpDir = `${classesDir}.tmp-${process.pid}`;
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.mkdirSync(tmpDir, { recursive: true });
  const res = spawnSync('javac', ['-cp', kafkaClasspath(), '-d', tmpDir, JAVA_SOURCE], { encoding: 'utf8' });
  if (res.status !== 0) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw new Error(`javac KmpTestProducer.java failed (exit ${res.status}): ${res.stderr || res.error}`);
  }
  try {
    fs.renameSync(tmpDir, classesDir);
  } catch {
    // Another process finished first: its classes are identical.
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
  return classesDir;
}

function encodeField(s: string | null): string {
  return s === null ? '-' : Buffer.from(s, 'utf8').toString('base64');
}

interface ProcessOutput {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

function runProcess(cmd: string, args: string[], stdin: string, timeoutMs: number): Promise<ProcessOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[kmp test] killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, stdout, stderr });
    });
    // EPIPE if the process dies early; its exit code and stderr tell the story.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

/**
 * Produces `records` with the Java producer (idempotent, acks=all unless `props` says otherwise) and resolves when
 * the JVM exits, with one delivery result per record.
 */
export async function runJavaProducer(opts: RunJavaProducerOptions): Promise<JavaProducerResult> {
  const classesDir = ensureJavaTestProducer();
  const props = Object.entries(opts.props ?? {}).map(([k, v]) => `${k}=${v}`);
  const stdin = opts.records.map((r) => `${encodeField(r.key)} ${encodeField(r.value)}${r.topic === undefined ? '' : ` ${r.topic}`}\n`).join('');
  const out = await runProcess(
    'java',
    ['-cp', `${classesDir}${path.delimiter}${kafkaClasspath()}`, 'KmpTestProducer', opts.bootstrap, opts.topic, ...props],
    stdin,
    opts.timeoutMs ?? 120_000,
  );
  const deliveries: JavaDelivery[] = [];
  for (const line of out.stdout.split('\n')) {
    const ack = /^ACK (\d+) (-?\d+) (-?\d+)$/.exec(line);
    if (ack) {
      deliveries.push({ index: Number(ack[1]), partition: Number(ack[2]), offset: BigInt(ack[3]), error: null });
      continue;
    }
    const err = /^ERR (\d+) (.*)$/.exec(line);
    if (err) deliveries.push({ index: Number(err[1]), partition: null, offset: null, error: err[2] });
  }
  deliveries.sort((a, b) => a.index - b.index);
  const acked = deliveries.filter((d) => d.error === null).length;
  return { ...out, acked, failed: deliveries.length - acked, deliveries };
}

export interface ProducerPerformanceOptions {
  bootstrap: string;
  topic: string;
  numRecords: number;
  recordSize: number;
  /** Records per second; -1 = unthrottled. */
  throughput: number;
  /** Producer properties; they override the defaults (enable.idempotence=true, acks=all). */
  props?: Record<string, string>;
  timeoutMs?: number;
}

export interface ProducerPerformanceSummary {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/** Parses the final summary line of ProducerPerformance's output (the bench's parser); null when there is none. */
export function parseProducerPerformanceSummary(stdout: string): Omit<ProducerPerformanceSummary, 'exitCode' | 'stdout' | 'stderr'> | null {
  const parsed = stdout.split('\n').map(parseSummary).filter((x) => x !== null);
  const m = parsed.at(-1);
  if (m === undefined) return null;
  return {
    records: m.records, recordsPerSec: m.recordsPerSec, mbPerSec: m.mibPerSec, avgLatencyMs: m.avgMs, maxLatencyMs: m.maxMs,
    p50Ms: m.p50, p95Ms: m.p95, p99Ms: m.p99, p999Ms: m.p999,
  };
}

/** Runs org.apache.kafka.tools.ProducerPerformance and parses its summary; throws if it printed none. */
export async function runProducerPerformance(opts: ProducerPerformanceOptions): Promise<ProducerPerformanceSummary> {
  const props = { 'enable.idempotence': 'true', acks: 'all', ...opts.props };
  const args = [
    '-cp', kafkaClasspath(), 'org.apache.kafka.tools.ProducerPerformance',
    '--bootstrap-server', opts.bootstrap,
    '--topic', opts.topic,
    '--num-records', String(opts.numRecords),
    '--record-size', String(opts.recordSize),
    '--throughput', String(opts.throughput),
    '--command-property', ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
  ];
  const out = await runProcess('java', args, '', opts.timeoutMs ?? 300_000);
  const summary = parseProducerPerformanceSummary(out.stdout);
  if (summary === null) {
    throw new Error(`ProducerPerformance printed no summary (exit ${out.exitCode}):\n${out.stdout}\n${out.stderr}`);
  }
  return { ...out, ...summary };
}

export interface JavaProducerStreamOptions {
  bootstrap: string;
  /** Default topic for records that name none. */
  topic: string;
  /** Producer properties; they override the defaults (enable.idempotence=true, acks=all, client.id=kmp-test-java). */
  props?: Record<string, string>;
  /** Called for every ACK/ERR line as soon as the JVM prints it. */
  onDelivery: (delivery: JavaDelivery) => void;
}

export interface JavaProducerStream {
  /** Queues one record on the JVM's stdin; returns its index (the `index` of its delivery). */
  write(record: JavaRecord): number;
  /** Records written so far. */
  readonly written: number;
  /** True once the JVM has exited (early exit = a crash; see end()'s stderr). */
  readonly exited: boolean;
  /** Closes stdin (the producer flushes, prints DONE and exits) and resolves with the process output. */
  end(timeoutMs?: number): Promise<ProcessOutput & { done: { acked: number; failed: number } | null }>;
  /** Kills the JVM at once. */
  kill(): void;
}

/**
 * Starts a long-running KmpTestProducer whose stdin is fed over time (write()), reporting each delivery through
 * onDelivery while it runs: the streaming counterpart of runJavaProducer, for tests that keep producing while
 * something else happens (flips).
 */
export function startJavaProducerStream(opts: JavaProducerStreamOptions): JavaProducerStream {
  const classesDir = ensureJavaTestProducer();
  const props = Object.entries(opts.props ?? {}).map(([k, v]) => `${k}=${v}`);
  const child = spawn('java', ['-cp', `${classesDir}${path.delimiter}${kafkaClasspath()}`, 'KmpTestProducer', opts.bootstrap, opts.topic, ...props], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  reapAtEnd(child);
  let stdout = '';
  let stderr = '';
  let partial = '';
  let done: { acked: number; failed: number } | null = null;
  let written = 0;
  let exitCode: number | null = null;
  let exited = false;
  const onLine = (line: string): void => {
    const ack = /^ACK (\d+) (-?\d+) (-?\d+)$/.exec(line);
    if (ack) {
      opts.onDelivery({ index: Number(ack[1]), partition: Number(ack[2]), offset: BigInt(ack[3]), error: null });
      return;
    }
    const err = /^ERR (\d+) (.*)$/.exec(line);
    if (err) {
      opts.onDelivery({ index: Number(err[1]), partition: null, offset: null, error: err[2] });
      return;
    }
    const fin = /^DONE (\d+) (\d+)$/.exec(line);
    if (fin) done = { acked: Number(fin[1]), failed: Number(fin[2]) };
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // EPIPE if the JVM dies early; its exit code and stderr tell the story.
  child.stdin.on('error', () => {});
  const closed = new Promise<void>((resolve) => {
    child.on('error', (err) => {
      stderr += `\n[kmp test] spawn failed: ${String(err)}`;
      exited = true;
      resolve();
    });
    child.on('close', (code) => {
      if (partial !== '') onLine(partial);
      exitCode = code;
      exited = true;
      resolve();
    });
  });
  return {
    write(record: JavaRecord): number {
      child.stdin.write(`${encodeField(record.key)} ${encodeField(record.value)}${record.topic === undefined ? '' : ` ${record.topic}`}\n`);
      return written++;
    },
    get written() {
      return written;
    },
    get exited() {
      return exited;
    },
    async end(timeoutMs = 120_000) {
      child.stdin.end();
      const timer = setTimeout(() => {
        stderr += `\n[kmp test] killed after ${timeoutMs} ms`;
        child.kill('SIGKILL');
      }, timeoutMs);
      await closed;
      clearTimeout(timer);
      return { exitCode, stdout, stderr, done };
    },
    kill() {
      if (!exited) child.kill('SIGKILL');
    },
  };
}

/**
 * Reads up to `maxMessages` values of a topic from the beginning with Kafka's own ConsoleConsumer (the Java
 * consumer: every codec, and batch CRCs checked since check.crcs defaults to true). Values are printed one per
 * line, so they must not contain newlines.
 */
export function consumeWithJava(opts: { bootstrap: string; topic: string; maxMessages: number; timeoutMs?: number }): { values: string[]; stderr: string } {
  const out = spawnSync('java', [
    '-cp', kafkaClasspath(), 'org.apache.kafka.tools.consumer.ConsoleConsumer',
    '--bootstrap-server', opts.bootstrap, '--topic', opts.topic, '--from-beginning',
    '--max-messages', String(opts.maxMessages), '--timeout-ms', String(opts.timeoutMs ?? 20_000),
    '--command-property', 'check.crcs=true',
  ], { encoding: 'utf8', timeout: (opts.timeoutMs ?? 20_000) + 40_000, maxBuffer: 256 * 1024 * 1024 });
  return { values: out.stdout.split('\n').filter((l) => l.length > 0), stderr: out.stderr };
}
