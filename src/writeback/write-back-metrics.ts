// Write-back's Prometheus metrics. Lag is computed at scrape time from the copiers (no per-batch gauge updates);
// counters are bumped once per copied batch. Topic labels are capped like the data path's (first 1000 topics).
import client from 'prom-client';
import type { PartitionLag } from './write-back.ts';

const OVERFLOW = '__overflow__';

export class WriteBackMetrics {
  readonly #copiedRecords: client.Counter<'topic'>;
  readonly #copiedBytes: client.Counter<'topic'>;
  readonly #errors: client.Counter<'topic'>;
  readonly #topics = new Set<string>();
  readonly #maxTopics: number;
  #lag: () => readonly PartitionLag[] = () => [];

  constructor(registry: client.Registry, maxTopics = 1000) {
    this.#maxTopics = maxTopics;
    const r = [registry];
    const lagOf = (): readonly PartitionLag[] => this.#lag();
    const topicOf = (t: string): string => this.#topic(t);
    new client.Gauge({
      name: 'kmp_writeback_lag_records',
      help: 'Records the target holds that write-back has not copied to the source yet, per topic (0 when caught up; must be 0 to roll back or promote).',
      labelNames: ['topic'],
      registers: r,
      collect() {
        this.reset();
        for (const l of lagOf()) this.inc({ topic: topicOf(l.topic) }, l.records);
      },
    });
    new client.Gauge({
      name: 'kmp_writeback_lag_seconds',
      help: 'Age of the oldest record the target acknowledged that is not on the source yet, per topic (max over partitions).',
      labelNames: ['topic'],
      registers: r,
      collect() {
        this.reset();
        const max = new Map<string, number>();
        for (const l of lagOf()) max.set(topicOf(l.topic), Math.max(max.get(topicOf(l.topic)) ?? 0, l.seconds));
        for (const [topic, s] of max) this.set({ topic }, s);
      },
    });
    this.#copiedRecords = new client.Counter({ name: 'kmp_writeback_copied_records_total', help: 'Records copied from the target back to the source.', labelNames: ['topic'], registers: r });
    this.#copiedBytes = new client.Counter({ name: 'kmp_writeback_copied_bytes_total', help: 'Record batch bytes copied from the target back to the source.', labelNames: ['topic'], registers: r });
    this.#errors = new client.Counter({ name: 'kmp_writeback_errors_total', help: 'Failed write-back attempts (each is retried; see the log for the cause).', labelNames: ['topic'], registers: r });
  }

  bind(lag: () => readonly PartitionLag[]): void {
    this.#lag = lag;
  }

  copied(topic: string, records: number, bytes: number): void {
    const t = this.#topic(topic);
    this.#copiedRecords.inc({ topic: t }, records);
    this.#copiedBytes.inc({ topic: t }, bytes);
  }

  error(topic: string): void {
    this.#errors.inc({ topic: this.#topic(topic) });
  }

  #topic(topic: string): string {
    if (this.#topics.has(topic)) return topic;
    if (this.#topics.size >= this.#maxTopics) return OVERFLOW;
    this.#topics.add(topic);
    return topic;
  }
}
