// The read-back check of `flip-under-load`: after the load stops, every topic is read from both clusters and
// each producer's acknowledged records are matched to what landed, one by one where the payload carries an id
// (kafkajs, librdkafka) and by count where it does not (Java ProducerPerformance).
import { readTopic, type ClusterName } from '../../test/support/kafka.ts';
import { log, progress } from '../lib/progress.ts';
import type { JavaPerfResult } from '../clients/java-perf.ts';
import { idOfPayload, type LoadResult } from '../clients/load-types.ts';

export const PRODUCERS = ['kafkajs', 'rdkafka', 'java'] as const;
export type ProducerKind = (typeof PRODUCERS)[number];
export const LABELS: Record<ProducerKind, string> = { kafkajs: 'kafkajs', rdkafka: 'librdkafka', java: 'Java ProducerPerformance' };

export interface Verification {
  producer: ProducerKind;
  acked: number;
  failed: number;
  onSource: number;
  onTarget: number;
  /** Acknowledged records found exactly once across both clusters. */
  exactlyOnce: number;
  missing: number;
  duplicated: number;
  /** Records found whose id this run never sent (should be 0). */
  unknown: number;
  /** Failed (unacknowledged) records that nevertheless landed — allowed, reported. */
  failedButPresent: number;
  pass: boolean;
  examples: string[];
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

export async function verify(
  topics: readonly string[], javaTopic: string, producers: readonly ProducerKind[],
  results: Partial<Record<'kafkajs' | 'rdkafka', LoadResult>>, java: JavaPerfResult | null, concurrency: number,
): Promise<Verification[]> {
  log(`verifying: reading ${topics.length} topics from both clusters`);
  const jobs = topics.flatMap((topic) => (['source', 'target'] as const).map((cluster) => ({ topic, cluster })));
  let done = 0;
  const stop = progress('verify', () => `${done}/${jobs.length} topic reads done`);
  // id → [count on source, count on target]; java: topic totals only (ProducerPerformance payloads carry no id).
  const seen = new Map<string, [number, number]>();
  const javaCounts = { source: 0, target: 0 };
  try {
    await mapLimit(jobs, concurrency, async ({ topic, cluster }: { topic: string; cluster: ClusterName }) => {
      const records = await readTopic(cluster, topic, 120_000);
      const side = cluster === 'source' ? 0 : 1;
      if (topic === javaTopic) javaCounts[cluster] += records.length;
      else {
        for (const r of records) {
          const id = idOfPayload(r.value) ?? `?${r.value?.slice(0, 20)}`;
          let c = seen.get(id);
          if (c === undefined) seen.set(id, (c = [0, 0]));
          c[side]++;
        }
      }
      done++;
    });
  } finally {
    stop();
  }
  const out: Verification[] = [];
  for (const [kind, prefix] of [['kafkajs', 'kjs:'], ['rdkafka', 'rdk:']] as const) {
    const r = results[kind];
    if (!producers.includes(kind) || r === undefined) continue;
    const acked = new Set(r.ackedIds);
    const failed = new Set(r.failedIds);
    const v: Verification = { producer: kind, acked: acked.size, failed: failed.size, onSource: 0, onTarget: 0, exactlyOnce: 0, missing: 0, duplicated: 0, unknown: 0, failedButPresent: 0, pass: false, examples: [] };
    // Primers go to every topic with the same id: expect that many copies of those.
    const expected = new Map<string, number>();
    for (const id of r.ackedIds) expected.set(id, (expected.get(id) ?? 0) + 1);
    for (const [id, [src, tgt]] of seen) {
      if (!id.startsWith(prefix)) continue;
      v.onSource += src;
      v.onTarget += tgt;
      const n = src + tgt;
      const want = expected.get(id);
      if (want !== undefined) {
        if (n === want) v.exactlyOnce += want;
        else if (n > want) {
          v.duplicated += n - want;
          if (v.examples.length < 5) v.examples.push(`${id} ×${n} (source ${src}, target ${tgt})`);
        }
      } else if (failed.has(id)) v.failedButPresent += n;
      else {
        v.unknown += n;
        if (v.examples.length < 5) v.examples.push(`unexpected ${id}`);
      }
    }
    for (const [id, want] of expected) {
      const c = seen.get(id);
      const n = c === undefined ? 0 : c[0] + c[1];
      if (n < want) {
        v.missing += want - n;
        if (v.examples.length < 5) v.examples.push(`missing ${id}`);
      }
    }
    v.acked = r.ackedIds.length;
    v.pass = v.missing === 0 && v.duplicated === 0 && v.unknown === 0;
    out.push(v);
  }
  if (producers.includes('java') && java !== null) {
    const found = javaCounts.source + javaCounts.target;
    const failedSends = java.failedSends;
    out.push({
      producer: 'java', acked: java.allRecords, failed: failedSends, onSource: javaCounts.source, onTarget: javaCounts.target,
      exactlyOnce: Math.min(found, java.allRecords), missing: Math.max(0, java.allRecords - found), duplicated: failedSends === 0 ? Math.max(0, found - java.allRecords) : 0,
      unknown: 0, failedButPresent: failedSends > 0 ? Math.max(0, found - java.allRecords) : 0,
      pass: found === java.allRecords || (failedSends > 0 && found >= java.allRecords),
      examples: found === java.allRecords ? [] : [`found ${found} records, ProducerPerformance acknowledged ${java.allRecords}`],
    });
  }
  return out;
}
