// kafkajs load generator: idempotent producers, acks=all. Closed loop = `concurrency` send() calls outstanding per
// producer (default 1, see below), each carrying `batch` records; paced = every `tickMs` the records that became
// due, sent as soon as the previous send is answered. Latency samples are per send (closed) or per tick (paced).
// kafkajs sends one Produce request per send() call and (idempotent) keeps one request in flight per broker, so its
// throughput is bounded by the request round trip: exactly what a proxy in the path adds to.
import type { Producer } from 'kafkajs';
import { kafkaFor } from '../../test/support/kafka.ts';
import { Samples, summarize } from '../lib/stats.ts';
import { payloadWithId, type LoadOptions, type LoadResult, type LoadStatus } from './load-types.ts';

export interface KafkajsOptions extends LoadOptions {
  /**
   * Closed loop: outstanding send() calls per producer. Default 1, and keep it there: kafkajs' idempotent producer
   * hands out sequence numbers per send and rolls them back when a send fails, so with several sends outstanding a
   * retried send can get numbers a later send already used, and the broker then drops that later send as a
   * "duplicate" while acknowledging it (records lost and others duplicated). Seen in this harness during flips.
   */
  concurrency?: number;
  /** Closed loop: records per send() call. */
  batch?: number;
  /** Paced: interval between sends. */
  tickMs?: number;
}

export interface RunningLoad {
  status: LoadStatus;
  done: Promise<LoadResult>;
}

export function startKafkajsLoad(opts: KafkajsOptions): RunningLoad {
  const producers = Math.max(1, opts.producers ?? 1);
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  const batch = Math.max(1, opts.batch ?? 10);
  const tickMs = Math.max(1, opts.tickMs ?? 10);
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
  let topicCursor = 0;
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

  /** Builds `count` records grouped by topic (round-robin over topics). */
  function build(p: number, seqStart: number, count: number): { topicMessages: { topic: string; messages: { key: string | null; value: Buffer }[] }[]; ids: string[] } {
    const byTopic = new Map<string, { key: string | null; value: Buffer }[]>();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const topic = opts.topics[topicCursor++ % opts.topics.length];
      const seq = seqStart + i;
      let value: Buffer = shared;
      let key: string | null = null;
      if (opts.trackIds !== undefined) {
        const id = `${opts.trackIds}:${p}:${seq}`;
        ids.push(id);
        value = payloadWithId(opts.size, id);
        // Keys spread records over partitions deterministically (and keep per-key order checkable).
        key = `k${seq % 64}`;
      }
      let list = byTopic.get(topic);
      if (list === undefined) byTopic.set(topic, (list = []));
      list.push({ key, value });
    }
    return { topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), ids };
  }

  /** Records [seqStart, seqStart + count) that became due at `dueAt` (one latency sample per group). */
  interface Group {
    dueAt: number;
    seqStart: number;
    count: number;
  }

  async function send(producer: Producer, p: number, groups: Group[]): Promise<void> {
    const count = groups.reduce((n, g) => n + g.count, 0);
    const { topicMessages, ids } = build(p, groups[0].seqStart, count);
    if (Number.isNaN(firstSend)) firstSend = performance.now();
    sent += count;
    try {
      await producer.sendBatch({ acks: -1, topicMessages });
      const now = performance.now();
      lastAck = now;
      acked += count;
      for (const g of groups) {
        const ms = now - g.dueAt;
        at.push((g.dueAt - t0) / 1000);
        lat.push(ms);
        recent.push(ms);
      }
      if (ids.length > 0) ackedIds.push(...ids);
    } catch (err) {
      errors += count;
      if (errorSamples.size < 5) errorSamples.add(String((err as Error).message ?? err));
      if (ids.length > 0) failedIds.push(...ids);
    }
  }

  async function runProducer(p: number): Promise<void> {
    const producer = kafkaFor(opts.bootstrap, `kmp-bench-kafkajs-${p}`).producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      // Untimed primer: metadata for the topics and the first request's set-up stay out of the numbers.
      const primerId = `${opts.trackIds ?? 'bench'}:${p}:primer`;
      await producer.sendBatch({ acks: -1, topicMessages: opts.topics.map((topic) => ({ topic, messages: [{ key: 'primer', value: payloadWithId(opts.size, primerId) }] })) });
      if (opts.trackIds !== undefined) ackedIds.push(...opts.topics.map(() => primerId));
      const mode = opts.mode;
      if (mode.kind === 'closed') {
        const share = Math.floor(mode.records / producers) + (p < mode.records % producers ? 1 : 0);
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < share) {
            const count = Math.min(batch, share - next);
            const seq = next;
            next += count;
            await send(producer, p, [{ dueAt: performance.now(), seqStart: seq, count }]);
          }
        };
        await Promise.all(Array.from({ length: concurrency }, worker));
      } else {
        // One send in flight; records that become due meanwhile wait and go out together in the next send, each
        // tick's group keeping its own due time.
        const rate = mode.rate / producers;
        const start = performance.now();
        const endAt = start + mode.seconds * 1000;
        const pending: Group[] = [];
        let inflight: Promise<void> | null = null;
        let scheduled = 0;
        const flush = (): void => {
          if (inflight !== null || pending.length === 0) return;
          inflight = send(producer, p, pending.splice(0)).finally(() => {
            inflight = null;
          });
        };
        for (let tick = 0; ; tick++) {
          const tickAt = start + tick * tickMs;
          const wait = tickAt - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          if (tickAt >= endAt || mode.stop?.()) break;
          const due = Math.floor((rate * (tickAt - start + tickMs)) / 1000) - scheduled;
          if (due > 0) {
            pending.push({ dueAt: tickAt, seqStart: scheduled, count: due });
            scheduled += due;
          }
          flush();
        }
        while (inflight !== null || pending.length > 0) {
          if (inflight !== null) await inflight;
          flush();
        }
      }
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
  }

  const done = (async (): Promise<LoadResult> => {
    await Promise.all(Array.from({ length: producers }, (_, p) => runProducer(p)));
    const wallSeconds = (lastAck - firstSend) / 1000;
    const recordsPerSec = wallSeconds > 0 ? acked / wallSeconds : Number.NaN;
    return {
      client: 'kafkajs',
      sent,
      acked,
      errors,
      errorSamples: [...errorSamples],
      wallSeconds,
      recordsPerSec,
      mibPerSec: (recordsPerSec * opts.size) / 2 ** 20,
      latencyUnit: opts.mode.kind === 'closed' ? 'send' : 'tick',
      latency: summarize(lat.values()),
      timeline: { at: at.values().slice(), latencyMs: lat.values().slice() },
      ackedIds,
      failedIds,
    };
  })();
  return { status, done };
}
