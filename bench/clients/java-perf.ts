// Apache Kafka's own load tool, org.apache.kafka.tools.ProducerPerformance (kafka-producer-perf-test), from the
// test bed's 4.3.1 jars. Its final summary line is the result; its per-interval lines feed the progress display
// and (flip-under-load) the latency timeline.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { LIBS_DIR } from '../../scripts/kafka/testbed.ts';

export interface JavaPerfOptions {
  bootstrap: string;
  topic: string;
  records: number;
  size: number;
  /** Records per second; -1 = unthrottled. */
  throughput: number;
  /** Producer properties on top of acks=all, enable.idempotence=true. */
  props?: Record<string, string>;
  /**
   * Records at the start left out of the reported numbers (JVM start, metadata, producer id); ProducerPerformance
   * then prints a second, "steady state" summary, which becomes the result. 0 = none.
   */
  warmupRecords?: number;
  /** Interval of the intermediate report lines. */
  reportingIntervalMs?: number;
  onInterval?: (interval: JavaInterval) => void;
  /** performance.now() that interval times count from (default: when the JVM is started). */
  origin?: number;
  /** Kills the JVM after this long. */
  timeoutMs?: number;
}

/** One intermediate line: `N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency.` */
export interface JavaInterval {
  /** Seconds since `origin` (default: the JVM start) when the line was read. */
  at: number;
  records: number;
  recordsPerSec: number;
  mibPerSec: number;
  avgMs: number;
  maxMs: number;
}

export interface JavaPerfResult {
  client: 'java';
  exitCode: number | null;
  /** Records acknowledged (ProducerPerformance counts a record only when its send callback succeeded). */
  records: number;
  recordsPerSec: number;
  /** ProducerPerformance's "MB/sec" is bytes / 2^20. */
  mibPerSec: number;
  avgMs: number;
  maxMs: number;
  /** ProducerPerformance reports percentiles in whole milliseconds. */
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  /** The line the numbers come from: the steady-state summary when warm-up records were set. */
  summaryLine: string;
  /** The summary over all records, warm-up included. */
  wholeRunLine: string;
  /** Records acknowledged over the whole run, warm-up included. */
  allRecords: number;
  intervals: JavaInterval[];
  /** Exceptions or other noise the tool printed (stack traces of failed sends); the first 50 lines. */
  errorLines: string[];
  /** Failed sends: the tool prints one stack trace per failed record; counts their first lines. */
  failedSends: number;
  /** Wall time of the whole JVM run, start-up included. */
  jvmSeconds: number;
}

const SUMMARY = /^(\d+) (?:steady state )?records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.?$/;
const INTERVAL = /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency\.?$/;

export function parseSummary(line: string): Omit<JavaPerfResult, 'client' | 'exitCode' | 'summaryLine' | 'wholeRunLine' | 'allRecords' | 'intervals' | 'errorLines' | 'failedSends' | 'jvmSeconds'> | null {
  const m = SUMMARY.exec(line.trim());
  if (m === null) return null;
  return {
    records: Number(m[1]),
    recordsPerSec: Number(m[2]),
    mibPerSec: Number(m[3]),
    avgMs: Number(m[4]),
    maxMs: Number(m[5]),
    p50: Number(m[6]),
    p95: Number(m[7]),
    p99: Number(m[8]),
    p999: Number(m[9]),
  };
}

export function javaPerfArgs(opts: JavaPerfOptions): string[] {
  const props = { acks: 'all', 'enable.idempotence': 'true', 'client.id': 'kmp-bench-java', ...opts.props };
  return [
    '-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-Djava.awt.headless=true',
    '-cp', path.join(LIBS_DIR, '*'),
    'org.apache.kafka.tools.ProducerPerformance',
    '--bootstrap-server', opts.bootstrap,
    '--topic', opts.topic,
    '--num-records', String(opts.records),
    '--record-size', String(opts.size),
    '--throughput', String(opts.throughput),
    '--reporting-interval', String(opts.reportingIntervalMs ?? 1000),
    ...(opts.warmupRecords ? ['--warmup-records', String(opts.warmupRecords)] : []),
    '--command-property', ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
  ];
}

export interface RunningJavaPerf {
  pid: number | undefined;
  done: Promise<JavaPerfResult>;
}

export function startJavaPerf(opts: JavaPerfOptions): RunningJavaPerf {
  const started = performance.now();
  const child = spawn('java', javaPerfArgs(opts), { stdio: ['ignore', 'pipe', 'pipe'] });
  const intervals: JavaInterval[] = [];
  const errorLines: string[] = [];
  let failedSends = 0;
  const noteError = (line: string): void => {
    const t = line.trim();
    if (t === '') return;
    // The head line of a stack trace, `org.apache.kafka.common.errors.TimeoutException: …`, not `at …`/`Caused by:`.
    if (/^[a-z][\w.$]*(Exception|Error)(:|$)/.test(t)) failedSends++;
    if (errorLines.length < 50) errorLines.push(t);
  };
  let summary: ReturnType<typeof parseSummary> = null;
  let summaryLine = '';
  let wholeRunLine = '';
  let buffered = '';
  const onLine = (line: string): void => {
    const s = parseSummary(line);
    if (s !== null) {
      // The whole-run summary comes first; a steady-state one (with warm-up records) follows and wins.
      const steady = line.includes('steady state');
      if (!steady) wholeRunLine = line.trim();
      if (steady || summary === null) {
        summary = s;
        summaryLine = line.trim();
      }
      return;
    }
    if (line.startsWith('Warmup first')) return;
    const m = INTERVAL.exec(line.trim());
    if (m !== null) {
      const interval = { at: (performance.now() - (opts.origin ?? started)) / 1000, records: Number(m[1]), recordsPerSec: Number(m[2]), mibPerSec: Number(m[3]), avgMs: Number(m[4]), maxMs: Number(m[5]) };
      intervals.push(interval);
      opts.onInterval?.(interval);
      return;
    }
    if (line.trim() !== '' && errorLines.length < 50) errorLines.push(line.trim());
  };
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    lines.forEach(onLine);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) noteError(line);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
  const done = new Promise<JavaPerfResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (buffered !== '') onLine(buffered);
      const s = summary as ReturnType<typeof parseSummary>;
      if (s === null) {
        reject(new Error(`ProducerPerformance printed no summary (exit ${code}):\n${errorLines.slice(-15).join('\n')}`));
        return;
      }
      resolve({ client: 'java', exitCode: code, ...s, summaryLine, wholeRunLine, allRecords: parseSummary(wholeRunLine)?.records ?? s.records, intervals, errorLines, failedSends, jvmSeconds: (performance.now() - started) / 1000 });
    });
  });
  return { pid: child.pid, done };
}
