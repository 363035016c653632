// Long-running producers of three client families (kafkajs, the Java producer, librdkafka) behind one small
// interface, plus a pump that feeds them at a bounded rate for as long as a test needs: the load of tests that
// change something (flips, rollbacks) while producers keep writing. Every record's value is unique, so a test
// can find each acknowledged record in the clusters afterwards.
//
// All producers are idempotent with acks=all. Errors are collected, never thrown: a test counts them.
import rdkafka from '@confluentinc/kafka-javascript';
import type { DeliveryReport, LibrdKafkaError, ProducerGlobalConfig } from '@confluentinc/kafka-javascript';
import type { Producer as KafkajsProducer, RetryOptions } from 'kafkajs';
import { kafkaFor } from './kafka.ts';
import { startJavaProducerStream, type JavaProducerStream } from './java-client.ts';

export interface StreamRecord {
  topic: string;
  key: string;
  value: string;
}

/** Where the client says an acknowledged record went; partition/offset are null when the client does not say. */
export interface Ack {
  topic: string;
  key: string;
  partition: number | null;
  offset: bigint | null;
}

export interface StreamingProducer {
  /** `kafkajs`, `java` or `rdkafka`: the prefix of every value this producer writes. */
  readonly client: string;
  start(): Promise<void>;
  /** Hands records to the client and returns at once; outcomes arrive later. */
  write(records: readonly StreamRecord[]): void;
  /** Records handed to write(). */
  readonly written: number;
  /** Acknowledged records by value. */
  readonly acked: ReadonlyMap<string, Ack>;
  /** When each record was acknowledged (Date.now()), by value: failover figures. */
  readonly ackedAt: ReadonlyMap<string, number>;
  /** One line per failed record or client-level error. */
  readonly errors: readonly string[];
  /** Records written whose outcome is not known yet. */
  readonly outstanding: number;
  /** Waits until every written record has an outcome (bounded), then closes the client. */
  close(timeoutMs?: number): Promise<void>;
}

abstract class BaseProducer implements StreamingProducer {
  readonly client: string;
  readonly acked = new Map<string, Ack>();
  readonly ackedAt = new Map<string, number>();
  readonly errors: string[] = [];
  written = 0;
  failed = 0;

  constructor(client: string) {
    this.client = client;
  }

  get outstanding(): number {
    return this.written - this.acked.size - this.failed;
  }

  protected ack(record: StreamRecord, partition: number | null, offset: bigint | null): void {
    if (this.acked.has(record.value)) {
      this.errors.push(`${this.client}: ${record.value} acknowledged twice`);
      return;
    }
    this.acked.set(record.value, { topic: record.topic, key: record.key, partition, offset });
    this.ackedAt.set(record.value, Date.now());
  }

  protected fail(record: StreamRecord | null, message: string): void {
    if (record !== null) this.failed++;
    this.errors.push(`${this.client}: ${record === null ? '' : `${record.value} (${record.topic}): `}${message}`);
  }

  /** Polls until nothing is outstanding or the time is up. */
  protected async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.outstanding > 0 && Date.now() < deadline) await sleep(20);
    if (this.outstanding > 0) this.errors.push(`${this.client}: ${this.outstanding} record(s) without an outcome after ${timeoutMs} ms`);
  }

  abstract start(): Promise<void>;
  abstract write(records: readonly StreamRecord[]): void;
  abstract close(timeoutMs?: number): Promise<void>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ── kafkajs ─────────────────────────────────────────────────────────────────────────────────────────────────
// kafkajs sends one idempotent request at a time per broker (and the proxy is the only broker), so an internal
// loop takes whatever is queued and sends it as one sendBatch; send() awaits, write() does not.

class KafkajsStreamingProducer extends BaseProducer {
  readonly #producer: KafkajsProducer;
  readonly #maxPerRequest: number;
  #queue: StreamRecord[] = [];
  #wake: (() => void) | null = null;
  #closing = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(bootstrap: string, clientId: string, maxPerRequest: number, retry?: RetryOptions) {
    super('kafkajs');
    this.#producer = kafkaFor(bootstrap, clientId, retry).producer({ idempotent: true, maxInFlightRequests: 1 });
    this.#maxPerRequest = maxPerRequest;
  }

  async start(): Promise<void> {
    await this.#producer.connect();
    this.#loop = this.#run();
  }

  write(records: readonly StreamRecord[]): void {
    this.#queue.push(...records);
    this.written += records.length;
    this.#wake?.();
  }

  async #run(): Promise<void> {
    for (;;) {
      if (this.#queue.length === 0) {
        if (this.#closing) return;
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
        continue;
      }
      const batch = this.#queue.splice(0, this.#maxPerRequest);
      const byTopic = new Map<string, StreamRecord[]>();
      for (const r of batch) {
        let list = byTopic.get(r.topic);
        if (!list) byTopic.set(r.topic, (list = []));
        list.push(r);
      }
      try {
        const metadata = await this.#producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list.map((r) => ({ key: r.key, value: r.value })) })),
        });
        // kafkajs answers per (topic, partition), not per record: a topic whose records all went to one partition
        // (always so with maxPerRequest 1) gets that partition and consecutive offsets; otherwise it stays unknown.
        const single = new Map<string, { partition: number; baseOffset: bigint } | null>();
        for (const m of metadata) {
          single.set(m.topicName, single.has(m.topicName) || m.baseOffset === undefined ? null : { partition: m.partition, baseOffset: BigInt(m.baseOffset) });
        }
        const index = new Map<string, number>();
        for (const r of batch) {
          const where = single.get(r.topic) ?? null;
          const i = index.get(r.topic) ?? 0;
          index.set(r.topic, i + 1);
          this.ack(r, where?.partition ?? null, where === null ? null : where.baseOffset + BigInt(i));
        }
      } catch (err) {
        for (const r of batch) this.fail(r, String(err));
      }
    }
  }

  async close(timeoutMs = 30_000): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    // A cleared timer, not sleep(): a pending sleep would keep the test process alive for timeoutMs after the end.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#loop, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    await this.settle(0);
    await this.#producer.disconnect();
  }
}

// ── Java (KmpTestProducer over stdin/stdout) ────────────────────────────────────────────────────────────────

class JavaStreamingProducer extends BaseProducer {
  readonly #bootstrap: string;
  readonly #defaultTopic: string;
  readonly #props: Record<string, string>;
  readonly #records: StreamRecord[] = [];
  #stream: JavaProducerStream | null = null;

  constructor(bootstrap: string, defaultTopic: string, props: Record<string, string>) {
    super('java');
    this.#bootstrap = bootstrap;
    this.#defaultTopic = defaultTopic;
    this.#props = props;
  }

  async start(): Promise<void> {
    this.#stream = startJavaProducerStream({
      bootstrap: this.#bootstrap,
      topic: this.#defaultTopic,
      props: this.#props,
      onDelivery: (d) => {
        const record = this.#records[d.index];
        if (record === undefined) {
          this.errors.push(`java: delivery for unknown record index ${d.index}`);
          return;
        }
        if (d.error === null) this.ack(record, d.partition, d.offset);
        else this.fail(record, d.error);
      },
    });
  }

  write(records: readonly StreamRecord[]): void {
    const stream = this.#stream;
    if (stream === null) throw new Error('java producer not started');
    for (const r of records) {
      const index = stream.write({ key: r.key, value: r.value, topic: r.topic });
      this.#records[index] = r;
      this.written++;
    }
  }

  /** The JVM exited before close(): its stderr is in errors. */
  get crashed(): boolean {
    return this.#stream?.exited ?? false;
  }

  async close(timeoutMs = 60_000): Promise<void> {
    const stream = this.#stream;
    if (stream === null) return;
    const out = await stream.end(timeoutMs);
    if (out.exitCode !== 0) this.errors.push(`java: KmpTestProducer exited with ${out.exitCode}: ${out.stderr.slice(-3000)}`);
    await this.settle(0);
  }
}

// ── librdkafka (@confluentinc/kafka-javascript, one persistent producer with delivery reports) ───────────────

class RdkafkaStreamingProducer extends BaseProducer {
  readonly #producer: InstanceType<typeof rdkafka.Producer>;
  readonly #metadataTopic: string;
  readonly #pending = new Map<number, StreamRecord>();
  #nextOpaque = 0;

  constructor(bootstrap: string, metadataTopic: string, config: Record<string, string | number | boolean>) {
    super('rdkafka');
    this.#metadataTopic = metadataTopic;
    this.#producer = new rdkafka.Producer({
      'bootstrap.servers': bootstrap,
      'client.id': 'kmp-test-rdkafka-stream',
      'enable.idempotence': true,
      acks: 'all',
      dr_cb: true,
      ...config,
    } as ProducerGlobalConfig);
    this.#producer.on('event.error', (err: LibrdKafkaError) => this.fail(null, `client error ${err.code}: ${err.message}`));
    this.#producer.on('delivery-report', (err: LibrdKafkaError | null, report: DeliveryReport) => {
      const id = report.opaque as number;
      const record = this.#pending.get(id);
      if (record === undefined) {
        this.errors.push(`rdkafka: delivery report for unknown record ${String(id)}`);
        return;
      }
      this.#pending.delete(id);
      if (err) this.fail(record, `${err.code}: ${err.message}`);
      else this.ack(record, report.partition, report.offset === undefined || report.offset === null ? null : BigInt(report.offset));
    });
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#producer.once('ready', () => {
        // Delivery reports arrive only while librdkafka is polled.
        this.#producer.setPollInterval(10);
        resolve();
      });
      // By default connecting asks Metadata for *all* topics; one topic is enough.
      this.#producer.connect({ topic: this.#metadataTopic, allTopics: false, timeout: 30_000 }, (err) => {
        if (err) reject(new Error(`rdkafka connect failed: ${err.message}`));
      });
    });
  }

  write(records: readonly StreamRecord[]): void {
    for (const r of records) {
      const id = this.#nextOpaque++;
      this.#pending.set(id, r);
      this.written++;
      try {
        this.#producer.produce(r.topic, null, Buffer.from(r.value), Buffer.from(r.key), null, id);
      } catch (err) {
        this.#pending.delete(id);
        this.fail(r, `produce() threw: ${String(err)}`);
      }
    }
  }

  async close(timeoutMs = 30_000): Promise<void> {
    await new Promise<void>((resolve) => this.#producer.flush(timeoutMs, () => resolve()));
    await this.settle(Math.min(timeoutMs, 5_000));
    await new Promise<void>((resolve) => this.#producer.disconnect(5_000, () => resolve()));
  }
}

export interface StreamingProducerOptions {
  bootstrap: string;
  /** A topic to ask Metadata for at connect time (librdkafka) / the default topic (Java). */
  firstTopic: string;
}

export function kafkajsStreamingProducer(opts: StreamingProducerOptions & { maxPerRequest?: number; retry?: RetryOptions }): StreamingProducer {
  return new KafkajsStreamingProducer(opts.bootstrap, 'kmp-test-kafkajs-stream', opts.maxPerRequest ?? 100, opts.retry);
}

export function javaStreamingProducer(opts: StreamingProducerOptions & { props?: Record<string, string> }): StreamingProducer {
  return new JavaStreamingProducer(opts.bootstrap, opts.firstTopic, {
    'client.id': 'kmp-test-java-stream',
    'max.in.flight.requests.per.connection': '5',
    'linger.ms': '5',
    ...opts.props,
  });
}

export function rdkafkaStreamingProducer(opts: StreamingProducerOptions & { config?: Record<string, string | number | boolean> }): StreamingProducer {
  return new RdkafkaStreamingProducer(opts.bootstrap, opts.firstTopic, { 'linger.ms': 5, ...opts.config });
}

// ── the pump ────────────────────────────────────────────────────────────────────────────────────────────────

export interface PumpOptions {
  /** Records per second, on average. */
  ratePerSec: number;
  /** Never more than this many records without an outcome (a hold must not pile up unbounded work). */
  maxOutstanding?: number;
  /** The record with this producer's sequence number `seq` (0, 1, 2, …); its value must be unique. */
  next: (seq: number) => StreamRecord;
  /** Tick of the pump. Default 20 ms. */
  tickMs?: number;
}

export interface Pump {
  /** Records handed to the producer so far. */
  readonly sent: number;
  /** Ticks on which the pump could not write because maxOutstanding was reached. */
  readonly stalls: number;
  /** Stops writing (the producer is not closed). */
  stop(): Promise<void>;
}

/** Writes to `producer` at `ratePerSec` without pause until stop(). */
export function pump(producer: StreamingProducer, opts: PumpOptions): Pump {
  const maxOutstanding = opts.maxOutstanding ?? 5_000;
  const tickMs = opts.tickMs ?? 20;
  const started = performance.now();
  let sent = 0;
  let stalls = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const due = Math.floor(((performance.now() - started) * opts.ratePerSec) / 1000) - sent;
      const room = maxOutstanding - producer.outstanding;
      const n = Math.min(due, room);
      if (due > 0 && room <= 0) stalls++;
      if (n > 0) {
        const batch: StreamRecord[] = [];
        for (let i = 0; i < n; i++) batch.push(opts.next(sent++));
        producer.write(batch);
      }
      await sleep(tickMs);
    }
  })();
  return {
    get sent() {
      return sent;
    },
    get stalls() {
      return stalls;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
