// Shared pieces of the write-back tests (test/integration/write-back*.test.ts): admin moves with the operator's
// retry on an in-doubt write, the lag metric, and the exactly-once / order check of the source, which a test
// reads DIRECTLY (never through kmp).
import assert from 'node:assert/strict';
import { kafkaFor, type ConsumedRecord } from './kafka.ts';
import type { RunningProxy } from './proxy.ts';
import { sleep, type StreamingProducer } from './streaming-producers.ts';

export interface AdminAnswer {
  status: number;
  json: Record<string, unknown>;
}

export async function adminPost(proxy: RunningProxy, path: string, body: unknown = {}): Promise<AdminAnswer> {
  const res = await fetch(`${proxy.adminUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** One move of a wave; an in-doubt write (a retry still pending) aborts a move by design: tried again, as an operator would. */
export async function moveWave(proxy: RunningProxy, action: 'flip' | 'rollback' | 'promote', wave: string, attempts = 5): Promise<AdminAnswer> {
  for (let attempt = 0; ; attempt++) {
    const r = await adminPost(proxy, `/v1/batches/${wave}/${action}`, { reason: 'write-back test' });
    if (r.status === 200 || attempt >= attempts || !JSON.stringify(r.json).includes('unknown outcome')) return r;
    await sleep(300);
  }
}

export function holdMsOf(answer: AdminAnswer): number {
  const timings = answer.json.timings as { holdMs?: unknown } | undefined;
  if (typeof timings?.holdMs !== 'number') throw new Error(`no timings.holdMs in ${JSON.stringify(answer.json)}`);
  return timings.holdMs;
}

export async function metricsText(proxy: RunningProxy): Promise<string> {
  return await (await fetch(`${proxy.adminUrl}/metrics`)).text();
}

/** kmp_writeback_lag_records of the topic, or null when the metric has no series for it. */
export function lagRecordsOf(metrics: string, topic: string): number | null {
  const m = new RegExp(`kmp_writeback_lag_records\\{topic="${topic}"\\} (\\d+)`).exec(metrics);
  return m === null ? null : Number(m[1]);
}

export function copiedRecordsOf(metrics: string, topic: string): number {
  return Number(new RegExp(`kmp_writeback_copied_records_total\\{topic="${topic}"\\} (\\d+)`).exec(metrics)?.[1] ?? '0');
}

/** Waits until the topic's write-back lag is 0; fails with kmp's last write-back log lines otherwise. */
export async function waitForLagZero(proxy: RunningProxy, topic: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await metricsText(proxy);
    const lag = lagRecordsOf(text, topic);
    if (lag === 0) return text;
    if (Date.now() > deadline) {
      const lines = proxy.logs().split('\n').filter((l) => l.includes('write-back')).slice(-15);
      assert.fail(`write-back lag of ${topic} did not reach 0 in ${timeoutMs} ms (${lag ?? 'no lag metric'})\n${lines.join('\n')}`);
    }
    await sleep(100);
  }
}

/** The producer's sequence number in a value `<producer>#<seq>`. */
function valueSeq(v: string): number {
  return Number(v.split('#')[1]);
}

/**
 * Every acknowledged record exactly once in `records` (one cluster, read directly), no duplicates of anything,
 * and per partition each producer's records (hence each key's) in send order. Values must be `<producer>#<seq>`
 * with seq increasing per producer. Returns the number of acknowledged records checked.
 */
export function checkExactlyOnceInOrder(records: readonly ConsumedRecord[], producers: readonly StreamingProducer[], label: string): number {
  const seen = new Map<string, number>();
  for (const r of records) seen.set(r.value ?? '', (seen.get(r.value ?? '') ?? 0) + 1);
  let checked = 0;
  for (const p of producers) {
    for (const value of p.acked.keys()) {
      assert.equal(seen.get(value), 1, `${label}: acknowledged ${value} is there ${seen.get(value) ?? 0} times`);
      checked++;
    }
  }
  const dup = [...seen].filter(([, n]) => n > 1).slice(0, 10);
  assert.deepEqual(dup, [], `${label}: duplicates`);
  // records are sorted by partition, then offset (readTopic): per-partition order is offset order.
  const last = new Map<string, { seq: number; offset: bigint }>();
  for (const r of records) {
    const v = r.value ?? '';
    const k = `${r.partition}/${v.split('#')[0]}`;
    const seq = valueSeq(v);
    const prev = last.get(k);
    assert.ok(prev === undefined || seq > prev.seq, `${label}: ${v} (offset ${r.offset}) comes after ${v.split('#')[0]}#${prev?.seq} (offset ${prev?.offset}) in partition ${r.partition}`);
    last.set(k, { seq, offset: r.offset });
  }
  return checked;
}

/** Creates topics on any broker (a scratch broker) and waits for their leaders. */
export async function createTopicsAt(bootstrap: string, topics: readonly string[], partitions: number): Promise<void> {
  const admin = kafkaFor(bootstrap, 'kmp-test-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })), waitForLeaders: true });
    for (let attempt = 0; attempt < 100; attempt++) {
      const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
      if (meta.topics.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0))) return;
      await sleep(100);
    }
    throw new Error(`topics ${topics.join(', ')} have no leaders on ${bootstrap}`);
  } finally {
    await admin.disconnect();
  }
}

/** Percentiles of a sample (nearest rank), for the one-line figures. */
export function distribution(values: readonly number[]): { n: number; min: number; p50: number; p90: number; max: number; mean: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  const round = (x: number): number => Math.round(x * 10) / 10;
  return { n: s.length, min: round(s[0]), p50: round(at(0.5)), p90: round(at(0.9)), max: round(s[s.length - 1]), mean: round(s.reduce((a, b) => a + b, 0) / s.length) };
}
