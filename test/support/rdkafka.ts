// @confluentinc/kafka-javascript helper for integration tests: a current librdkafka (2.15.x) producer, with the
// node-rdkafka style (non-promisified) Producer API because it reports delivery per record.
import rdkafka from '@confluentinc/kafka-javascript';
import type { LibrdKafkaError, DeliveryReport, ProducerGlobalConfig } from '@confluentinc/kafka-javascript';

const { Producer } = rdkafka;

export interface RdkafkaRecord {
  /** Defaults to the `topic` option. */
  topic?: string;
  key: string | Buffer | null;
  value: string | Buffer | null;
  /** Explicit partition; omitted = librdkafka's partitioner (consistent_random on the key). */
  partition?: number;
}

export interface RdkafkaDelivery {
  index: number;
  topic: string;
  partition: number | null;
  offset: number | null;
  /** librdkafka error text, null when delivered. */
  error: string | null;
  errorCode: number | null;
}

export interface ProduceWithRdkafkaOptions {
  bootstrap: string;
  /** Default topic for records that name none. */
  topic?: string;
  records: RdkafkaRecord[];
  /** librdkafka properties; they override the defaults (enable.idempotence=true, acks=all, dr_cb=true). */
  config?: Record<string, string | number | boolean>;
  /** Gives up (and disconnects) when not every record has a delivery report by then; default 60 s. */
  timeoutMs?: number;
}

export interface RdkafkaResult {
  /** One per record, in record order. */
  deliveries: RdkafkaDelivery[];
  /** Client-level errors seen meanwhile ('event.error'), e.g. transport errors or fatal idempotence errors. */
  clientErrors: string[];
}

function toBuffer(v: string | Buffer | null): Buffer | null {
  return v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8');
}

/** Produces every record, waits for all delivery reports, disconnects and returns the per-record results. */
export function produceWithRdkafka(opts: ProduceWithRdkafkaOptions): Promise<RdkafkaResult> {
  const config = {
    'bootstrap.servers': opts.bootstrap,
    'client.id': 'kmp-test-rdkafka',
    'enable.idempotence': true,
    acks: 'all',
    dr_cb: true,
    ...opts.config,
  } as ProducerGlobalConfig;
  const producer = new Producer(config);
  const deliveries: (RdkafkaDelivery | undefined)[] = new Array(opts.records.length).fill(undefined);
  const clientErrors: string[] = [];
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let remaining = opts.records.length;

  return new Promise<RdkafkaResult>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const done = (): void => {
        if (err) reject(err);
        else resolve({ deliveries: deliveries as RdkafkaDelivery[], clientErrors });
      };
      if (producer.isConnected()) producer.disconnect(5000, () => done());
      else done();
    };
    const timer = setTimeout(() => {
      const missing = deliveries.flatMap((d, i) => (d === undefined ? [i] : []));
      finish(new Error(`produceWithRdkafka: no delivery report after ${timeoutMs} ms for records ${missing.slice(0, 20).join(',')}` +
        ` (${missing.length} missing); client errors: ${clientErrors.join('; ') || 'none'}`));
    }, timeoutMs);

    producer.on('event.error', (err: LibrdKafkaError) => clientErrors.push(`${err.code}: ${err.message}`));
    producer.on('delivery-report', (err: LibrdKafkaError, report: DeliveryReport) => {
      const index = report.opaque as number;
      if (deliveries[index] !== undefined) return;
      deliveries[index] = {
        index,
        topic: report.topic,
        partition: err ? null : report.partition,
        offset: err ? null : report.offset,
        error: err ? err.message : null,
        errorCode: err ? err.code : null,
      };
      if (--remaining === 0) finish(null);
    });
    producer.on('ready', () => {
      try {
        opts.records.forEach((r, index) => {
          const topic = r.topic ?? opts.topic;
          if (topic === undefined) throw new Error(`record ${index} has no topic and no default topic was given`);
          producer.produce(topic, r.partition ?? null, toBuffer(r.value), toBuffer(r.key), null, index);
        });
      } catch (err) {
        finish(err as Error);
        return;
      }
      if (remaining === 0) finish(null);
      // Delivery reports arrive only while librdkafka is polled.
      producer.setPollInterval(20);
    });
    // Connecting fetches Metadata; by default for *all* topics, which is slow and noisy on a shared cluster.
    const metadataTopic = opts.topic ?? opts.records[0]?.topic;
    const metadataOptions = metadataTopic === undefined ? { timeout: timeoutMs } : { topic: metadataTopic, allTopics: false, timeout: timeoutMs };
    producer.connect(metadataOptions, (err) => {
      if (err) finish(new Error(`produceWithRdkafka: connect failed: ${err.message}`));
    });
  });
}
