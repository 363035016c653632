// librdkafka load generator (@confluentinc/kafka-javascript, classic node-rdkafka API): idempotent producers,
// acks=all, one latency sample per record from produce() (or from when the record was due, when paced) to its
// delivery report. Delivery reports are polled on librdkafka's background thread (setPollInBackground), so their
// timing does not depend on a JS poll interval.
import rdkafka from '@confluentinc/kafka-javascript';
import type { DeliveryReport, LibrdKafkaError, ProducerGlobalConfig, Producer as RdProducer } from '@confluentinc/kafka-javascript';
import { Samples, summarize } from '../lib/stats.ts';
import { payloadWithId, type LoadOptions, type LoadResult, type LoadStatus } from './load-types.ts';
import type { RunningLoad } from './kafkajs-load.ts';

const { Producer } = rdkafka;
const ERR_QUEUE_FULL = -184;

export interface RdkafkaOptions extends LoadOptions {
  /** Closed loop: most records produced but not yet reported, per producer. */
  window?: number;
  /** Extra librdkafka properties (override the defaults). */
  config?: Record<string, string | number | boolean>;
}

class Float64Store {
  data = new Float64Array(4096);

  set(i: number, v: number): void {
    if (i >= this.data.length) {
      let n = this.data.length;
      while (n <= i) n *= 2;
      const bigger = new Float64Array(n);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[i] = v;
  }
}

function connect(producer: RdProducer, topic: string): Promise<void> {
  return new Promise((resolve, reject) => {
    producer.once('ready', () => resolve());
    producer.connect({ topic, allTopics: false, timeout: 30_000 }, (err) => {
      if (err) reject(new Error(`librdkafka connect failed: ${err.message}`));
    });
  });
}

export function startRdkafkaLoad(opts: RdkafkaOptions): RunningLoad {
  const producers = Math.max(1, opts.producers ?? 1);
  const window = Math.max(1, opts.window ?? 10_000);
  const shared = Buffer.alloc(opts.size, 0x78);
  const at = new Samples();
  const lat = new Samples();
  let recent: number[] = [];
  const errorSamples = new Set<string>();
  const ackedIds: string[] = [];
  const failedIds: string[] = [];
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let firstSend = Number.NaN;
  let lastAck = Number.NaN;
  const t0 = opts.origin ?? performance.now();

  const status: LoadStatus = {
    get sent() {
      return sent;
    },
    get acked() {
      return acked;
    },
    get errors() {
      return errors;
    },
    takeRecent() {
      const out = recent;
      recent = [];
      return out;
    },
  };

  async function runProducer(p: number): Promise<void> {
    const config = {
      'bootstrap.servers': opts.bootstrap,
      'client.id': `kmp-bench-rdkafka-${p}`,
      'enable.idempotence': true,
      acks: 'all',
      dr_cb: true,
      ...opts.config,
    } as ProducerGlobalConfig;
    const producer = new Producer(config);
    const due = new Float64Store();
    const ids: string[] = [];
    let outstanding = 0;
    let wake: (() => void) | null = null;
    producer.on('event.error', (err: LibrdKafkaError) => {
      if (errorSamples.size < 5) errorSamples.add(`client: ${err.message}`);
    });
    let primed: ((err: LibrdKafkaError | null) => void) | null = null;
    producer.on('delivery-report', (err: LibrdKafkaError, report: DeliveryReport) => {
      const idx = report.opaque as number;
      if (idx === -1) {
        primed?.(err);
        return;
      }
      const now = performance.now();
      outstanding--;
      if (err) {
        errors++;
        if (errorSamples.size < 5) errorSamples.add(err.message);
        if (opts.trackIds !== undefined) failedIds.push(ids[idx]);
      } else {
        acked++;
        lastAck = now;
        const ms = now - due.data[idx];
        at.push((due.data[idx] - t0) / 1000);
        lat.push(ms);
        recent.push(ms);
        if (opts.trackIds !== undefined) ackedIds.push(ids[idx]);
      }
      if (wake !== null && (outstanding <= window / 2 || outstanding === 0)) {
        const w = wake;
        wake = null;
        w();
      }
    });
    await connect(producer, opts.topics[0]);
    producer.setPollInBackground(true);
    // Untimed primer: librdkafka acquires the producer id after 'ready'; records produced before that would wait.
    const primerId = `${opts.trackIds ?? 'bench'}:${p}:primer`;
    const primerErr = await new Promise<LibrdKafkaError | null>((resolve) => {
      primed = resolve;
      producer.produce(opts.topics[0], null, payloadWithId(opts.size, primerId), Buffer.from('primer'), null, -1);
    });
    if (primerErr) throw new Error(`librdkafka primer record failed: ${primerErr.message}`);
    if (opts.trackIds !== undefined) ackedIds.push(primerId);

    let seq = 0;
    const produceOne = async (dueAt: number): Promise<void> => {
      const topic = opts.topics[seq % opts.topics.length];
      let value: Buffer = shared;
      let key: Buffer | null = null;
      if (opts.trackIds !== undefined) {
        const id = `${opts.trackIds}:${p}:${seq}`;
        ids[seq] = id;
        value = payloadWithId(opts.size, id);
        key = Buffer.from(`k${seq % 64}`);
      }
      due.set(seq, dueAt);
      for (;;) {
        try {
          producer.produce(topic, null, value, key, null, seq);
          break;
        } catch (err) {
          // librdkafka's own queue is full: give it a moment, the record keeps its due time.
          if ((err as LibrdKafkaError).code !== ERR_QUEUE_FULL) throw err;
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      if (Number.isNaN(firstSend)) firstSend = performance.now();
      outstanding++;
      sent++;
      seq++;
    };

    try {
      const mode = opts.mode;
      if (mode.kind === 'closed') {
        const share = Math.floor(mode.records / producers) + (p < mode.records % producers ? 1 : 0);
        while (seq < share) {
          if (outstanding >= window) await new Promise<void>((r) => (wake = r));
          await produceOne(performance.now());
        }
      } else {
        const rate = mode.rate / producers;
        const start = performance.now();
        const endAt = start + mode.seconds * 1000;
        for (;;) {
          const now = performance.now();
          if (now >= endAt || mode.stop?.()) break;
          const dueCount = Math.floor((rate * (now - start)) / 1000);
          while (seq < dueCount) await produceOne(start + (seq * 1000) / rate);
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      // Wait for every delivery report (librdkafka retries internally; its message.timeout.ms bounds this).
      const deadline = performance.now() + 120_000;
      while (outstanding > 0 && performance.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
      }
      if (outstanding > 0 && errorSamples.size < 5) errorSamples.add(`${outstanding} records without a delivery report after 120 s`);
    } finally {
      await new Promise<void>((r) => producer.disconnect(5000, () => r()));
    }
  }

  const done = (async (): Promise<LoadResult> => {
    await Promise.all(Array.from({ length: producers }, (_, p) => runProducer(p)));
    const wallSeconds = (lastAck - firstSend) / 1000;
    const recordsPerSec = wallSeconds > 0 ? acked / wallSeconds : Number.NaN;
    return {
      client: 'rdkafka',
      sent,
      acked,
      errors,
      errorSamples: [...errorSamples],
      wallSeconds,
      recordsPerSec,
      mibPerSec: (recordsPerSec * opts.size) / 2 ** 20,
      latencyUnit: 'record',
      latency: summarize(lat.values()),
      timeline: { at: at.values().slice(), latencyMs: lat.values().slice() },
      ackedIds,
      failedIds,
    };
  })();
  return { status, done };
}
