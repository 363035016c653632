// Helpers for kmp's transaction tests: the scripted Java transactional producer (java/KmpTxnProducer.java),
// read_committed reads straight from one cluster, and the open-transaction check (DescribeProducers).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_DIR, LIBS_DIR } from '../../scripts/kafka/testbed.ts';
import rdkafka from '@confluentinc/kafka-javascript';
import { bootstrapOf, type ClusterName } from './kafka.ts';
import { reapAtEnd } from './reap.ts';

const SOURCE = path.join(import.meta.dirname, 'java', 'KmpTxnProducer.java');

function classes(): string {
  const source = fs.readFileSync(SOURCE);
  const dir = path.join(CACHE_DIR, 'kmp-java', `txn-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  if (fs.existsSync(path.join(dir, 'KmpTxnProducer.class'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const res = spawnSync('javac', ['-cp', path.join(LIBS_DIR, '*'), '-d', tmp, SOURCE], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`javac KmpTxnProducer.java failed: ${res.stderr}`);
  try {
    fs.renameSync(tmp, dir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

export interface JavaTxnProducer {
  readonly child: ChildProcess;
  /** Output lines so far. */
  lines(): string[];
  /** Resolves with the first output line matching `re` (waiting for it). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  send(line: string): void;
  /** Closes stdin and waits for the JVM to exit. */
  finish(timeoutMs?: number): Promise<number | null>;
  kill(): void;
}

export function startJavaTxnProducer(bootstrap: string, transactionalId: string, props: Record<string, string> = {}, jvmProps: Record<string, string> = {}): JavaTxnProducer {
  const child = spawn('java', [
    ...Object.entries(jvmProps).map(([k, v]) => `-D${k}=${v}`),
    '-cp', `${classes()}${path.delimiter}${path.join(LIBS_DIR, '*')}`, 'KmpTxnProducer', bootstrap, transactionalId,
    ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
  ], { stdio: ['pipe', 'pipe', 'pipe'] });
  reapAtEnd(child);
  const out: string[] = [];
  let partial = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    out.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    for (const w of waiters) w();
    resolve(code);
  }));
  return {
    child,
    lines: () => [...out],
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = out.find((l) => re.test(l));
          if (hit !== undefined) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          } else if (child.exitCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`java exited (${child.exitCode}) before ${re}: ${out.join('\n')}\n${stderr.slice(-3000)}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re}: ${out.join('\n')}\n${stderr.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    send(line) {
      child.stdin!.write(`${line}\n`);
    },
    async finish(timeoutMs = 60_000) {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

export interface CommittedRecord {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string;
}

/**
 * Every record a read_committed consumer sees on `topic` of `cluster`, reading straight from the cluster until no
 * record arrived for `idleMs` (a committed read never reaches the log end past a commit marker, so the end is
 * not a count of offsets). librdkafka's consumer, not kafkajs': kafkajs drops aborted records only when the
 * broker lists aborted transactions in offset order, and lets records of interleaved aborted transactions through.
 */
export async function readCommitted(cluster: ClusterName, topic: string, idleMs = 2_500): Promise<CommittedRecord[]> {
  const kafka = new rdkafka.KafkaJS.Kafka({ kafkaJS: { brokers: [bootstrapOf(cluster)], logLevel: rdkafka.KafkaJS.logLevel.NOTHING } });
  const consumer = kafka.consumer({ 'isolation.level': 'read_committed', kafkaJS: { groupId: `kmp-test-${randomUUID()}`, fromBeginning: true, autoCommit: false } });
  // librdkafka's callbacks do not keep Node's event loop alive: without a timer of our own, a test waiting only on
  // connect() or disconnect() can be cancelled as "still pending but the event loop has already resolved".
  const keepAlive = setInterval(() => undefined, 1_000);
  const out: CommittedRecord[] = [];
  let last = Date.now();
  try {
    await consumer.connect();
    await consumer.subscribe({ topic });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        last = Date.now();
        out.push({ partition, offset: BigInt(message.offset), key: message.key?.toString() ?? null, value: message.value?.toString() ?? '' });
      },
    });
    const started = Date.now();
    while (Date.now() - last < idleMs || Date.now() - started < idleMs + 3_000) await new Promise((r) => setTimeout(r, 200));
  } finally {
    await consumer.disconnect().finally(() => clearInterval(keepAlive));
  }
  return out;
}

/** Partitions of `topics` on `cluster` where DescribeProducers shows a producer with an open transaction. */
export async function openTransactions(cluster: ClusterName, topics: readonly string[]): Promise<string[]> {
  const { ClusterClient } = await import('../../src/upstream/cluster-client.ts');
  const { ApiKey } = await import('../../protocol/messages/index.ts');
  const { default: pino } = await import('pino');
  const client = new ClusterClient({ name: cluster, bootstrap: [bootstrapOf(cluster)], requestTimeoutMs: 10_000, metadataTtlMs: 1_000, maxFrameBytes: 64 << 20, logger: pino({ level: 'silent' }) });
  try {
    await client.start();
    const open: string[] = [];
    for (const topic of topics) {
      const meta = await client.topic(topic);
      for (const p of meta.partitions) {
        const conn = await client.connection(p.leaderId);
        const res = await conn.send(ApiKey.DescribeProducers, 0, { topics: [{ name: topic, partitionIndexes: [p.partition] }] });
        for (const t of res.topics) {
          for (const part of t.partitions) {
            for (const ap of part.activeProducers) if (ap.currentTxnStartOffset >= 0n) open.push(`${topic}-${part.partitionIndex} (producer ${ap.producerId} since offset ${ap.currentTxnStartOffset})`);
          }
        }
      }
    }
    return open;
  } finally {
    client.close();
  }
}
