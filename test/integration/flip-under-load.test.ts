// Flips and rollbacks of two waves while three client families write without pause. kafkajs, the Java producer
// (one long-running KmpTestProducer fed over stdin) and librdkafka (one persistent producer), all idempotent with
// acks=all and keyed, write to 20 topics (wave-1 and wave-2, 10 topics each, 6 partitions, on both clusters)
// while the test runs this schedule twice: flip wave-1, flip wave-2, roll back wave-1, flip wave-1 again,
// roll back everything (10 moves). Then, reading both clusters directly, per partition:
// - every acknowledged record is on exactly one cluster, once, and nothing else is there;
// - each cluster's records form contiguous segments whose boundaries are the ledger's offsets (cut at
//   lastOffsetOnOld, resumed at firstOffsetOnNew), so the partition's sequence across clusters is rebuilt by
//   walking the ledger;
// - in that sequence every producer's records keep their send order (per key, and per partition);
// - a key stays in one partition whichever cluster it landed on;
// - where the client reports offsets (Java, librdkafka), the record is at that partition and offset;
// - no producer saw an error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, createTopics, readTopic, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import {
  javaStreamingProducer,
  kafkajsStreamingProducer,
  pump,
  rdkafkaStreamingProducer,
  sleep,
  type StreamingProducer,
} from '../support/streaming-producers.ts';

const PARTITIONS = 6;
const TOPICS_PER_WAVE = 10;
const KEYS = 40;
/** Records per second per producer: three producers plus the proxy and two brokers share 2 cores. */
const RATE = 250;
const CYCLES = 2;
const PAUSE_BETWEEN_MOVES_MS = 700;

const wave1 = Array.from({ length: TOPICS_PER_WAVE }, (_, i) => uniqueTopic(`ful-w1-${i}`));
const wave2 = Array.from({ length: TOPICS_PER_WAVE }, (_, i) => uniqueTopic(`ful-w2-${i}`));
const allTopics = [...wave1, ...wave2];
let proxy: RunningProxy;

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', allTopics, PARTITIONS), createTopics('target', allTopics, PARTITIONS)]);
  proxy = await startProxy({ routes: { default: 'source', batches: { 'wave-1': { topics: wave1 }, 'wave-2': { topics: wave2 } } } });
});

after(async () => {
  await proxy?.stop();
});

interface LedgerEntry {
  topic: string;
  partition: number;
  from: string;
  to: string;
  version: number;
  lastOffsetOnOld: string | null;
  firstOffsetOnNew: string | null;
}

interface MoveAnswer {
  version: number;
  timings: { holdMs: number; drainMs: number; totalMs: number } | null;
  heldRequests: number;
  rejectedRequests: number;
  move: { from: string; to: string; topics: string[] } | null;
}

async function admin<T = Record<string, unknown>>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${proxy.adminUrl}${path}`, {
    method,
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** Reads topics a few at a time (each read is a consumer group of its own). */
async function readAll(cluster: 'source' | 'target', topics: string[]): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  for (let i = 0; i < topics.length; i += 5) {
    for (const list of await Promise.all(topics.slice(i, i + 5).map((t) => readTopic(cluster, t, 60_000)))) out.push(...list);
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

test('three idempotent producers write without pause through 10 wave moves: complete, ordered, no errors', async (t) => {
  const producers: StreamingProducer[] = [
    kafkajsStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: allTopics[0] }),
    javaStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: allTopics[0] }),
    rdkafkaStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: allTopics[0] }),
  ];
  await Promise.all(producers.map((p) => p.start()));
  // Each producer goes round the topics, and within a topic round all keys (step 7, coprime with KEYS), so every
  // partition gets several keys of every producer. The value names the client and its sequence number.
  const pumps = producers.map((p, n) =>
    pump(p, {
      ratePerSec: RATE,
      maxOutstanding: 3_000,
      next: (seq) => ({
        topic: allTopics[(seq + n * 7) % allTopics.length],
        key: `k${(Math.floor(seq / allTopics.length) * 7 + n) % KEYS}`,
        value: `${p.client}-${seq}`,
      }),
    }),
  );

  const schedule: [string, string][] = [];
  for (let c = 0; c < CYCLES; c++) {
    schedule.push(
      ['flip wave-1', '/v1/batches/wave-1/flip'],
      ['flip wave-2', '/v1/batches/wave-2/flip'],
      ['rollback wave-1', '/v1/batches/wave-1/rollback'],
      ['flip wave-1 again', '/v1/batches/wave-1/flip'],
      ['rollback everything', '/v1/rollback-all'],
    );
  }
  const holds: number[] = [];
  const moveFailures: string[] = [];
  let stopped = false;
  try {
    // Let every producer reach its pace (the JVM starts slowest) before the first move.
    const warmupDeadline = Date.now() + 30_000;
    while (producers.some((p) => p.acked.size < 50) && Date.now() < warmupDeadline) await sleep(50);
    for (const [label, path] of schedule) {
      await sleep(PAUSE_BETWEEN_MOVES_MS);
      const res = await admin<MoveAnswer>('POST', path, { reason: `flip-under-load: ${label}` });
      if (res.status !== 200 || res.json.timings === null) {
        moveFailures.push(`${label}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
        continue;
      }
      holds.push(res.json.timings.holdMs);
      t.diagnostic(
        `${label}: hold ${res.json.timings.holdMs.toFixed(1)} ms, drain ${res.json.timings.drainMs.toFixed(1)} ms, ` +
          `${res.json.heldRequests} held, ${res.json.rejectedRequests} answered retriable, ${res.json.move?.topics.length ?? 0} topics, version ${res.json.version}`,
      );
    }
    await sleep(PAUSE_BETWEEN_MOVES_MS);
  } finally {
    await Promise.all(pumps.map((p) => p.stop()));
    stopped = true;
    await Promise.all(producers.map((p) => p.close()));
  }
  assert.ok(stopped);
  assert.deepEqual(moveFailures, [], 'every move succeeded');
  assert.ok(holds.length >= 10, `at least 10 moves ran (got ${holds.length})`);

  for (const p of producers) {
    t.diagnostic(`${p.client}: ${p.written} written, ${p.acked.size} acknowledged, ${p.errors.length} error(s), pump stalls ${pumps[producers.indexOf(p)].stalls}`);
    for (const e of p.errors.slice(0, 10)) t.diagnostic(`  ${e}`);
  }
  t.diagnostic(`hold times (ms): ${holds.map((h) => h.toFixed(1)).join(', ')}`);
  t.diagnostic(`hold median ${median(holds).toFixed(1)} ms, max ${Math.max(...holds).toFixed(1)} ms over ${holds.length} moves`);
  const errorsPerClient = Object.fromEntries(producers.map((p) => [p.client, p.errors.length]));
  assert.deepEqual(errorsPerClient, { kafkajs: 0, java: 0, rdkafka: 0 }, 'no producer saw an error');
  for (const p of producers) assert.equal(p.acked.size, p.written, `${p.client}: every written record acknowledged`);

  // ── read both clusters directly ───────────────────────────────────────────────────────────────────────────
  const [src, tgt] = await Promise.all([readAll('source', allTopics), readAll('target', allTopics)]);
  const ackOf = new Map<string, { client: string; ack: ReturnType<StreamingProducer['acked']['get']> }>();
  for (const p of producers) for (const [value, ack] of p.acked) ackOf.set(value, { client: p.client, ack });

  // Exactly once across both clusters, and nothing that was not acknowledged.
  const seen = new Map<string, number>();
  for (const r of [...src, ...tgt]) seen.set(r.value ?? '', (seen.get(r.value ?? '') ?? 0) + 1);
  const duplicates = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
  const strays = [...seen.keys()].filter((v) => !ackOf.has(v));
  const missing = [...ackOf.keys()].filter((v) => !seen.has(v));
  assert.deepEqual(duplicates.slice(0, 20), [], `no record twice (${duplicates.length} duplicated)`);
  assert.deepEqual(strays.slice(0, 20), [], `no record that was not acknowledged (${strays.length})`);
  assert.deepEqual(missing.slice(0, 20), [], `every acknowledged record present (${missing.length} missing)`);
  assert.ok(src.length > 0 && tgt.length > 0, 'both clusters received writes');

  // Where the client reported partition and offset, the record is there (on the cluster it went to).
  const misplaced: string[] = [];
  for (const [cluster, list] of [['source', src], ['target', tgt]] as const) {
    for (const r of list) {
      const a = ackOf.get(r.value ?? '')?.ack;
      if (a === undefined) continue;
      if (a.topic !== r.topic || a.key !== r.key) misplaced.push(`${r.value}: acked for ${a.topic}/${a.key}, found in ${r.topic}/${r.key} on ${cluster}`);
      else if (a.partition !== null && (a.partition !== r.partition || a.offset !== r.offset)) {
        misplaced.push(`${r.value}: acked at ${a.partition}@${a.offset}, found at ${r.partition}@${r.offset} on ${cluster} (${r.topic})`);
      }
    }
  }
  assert.deepEqual(misplaced.slice(0, 20), [], `acknowledged partition/offset match the log (${misplaced.length} mismatches)`);

  // ── per partition: rebuild the cross-cluster sequence from the ledger ─────────────────────────────────────
  const ledger = await admin<{ total: number; entries: LedgerEntry[] }>('GET', '/v1/ledger');
  assert.equal(ledger.status, 200);
  const entries = ledger.json.entries;
  assert.equal(entries.length, ledger.json.total);
  const byPartition = (list: ConsumedRecord[]) => {
    const m = new Map<string, ConsumedRecord[]>();
    for (const r of list) {
      const k = `${r.topic}/${r.partition}`;
      let l = m.get(k);
      if (!l) m.set(k, (l = []));
      l.push(r);
    }
    return m;
  };
  const srcBy = byPartition(src);
  const tgtBy = byPartition(tgt);
  const movesOf = new Map<string, LedgerEntry[]>();
  for (const e of entries) {
    const k = `${e.topic}/${e.partition}`;
    let l = movesOf.get(k);
    if (!l) movesOf.set(k, (l = []));
    l.push(e);
  }

  const problems: string[] = [];
  let checked = 0;
  let segments = 0;
  let detailed = 0;
  for (const topic of allTopics) {
    // wave-1 moved 4 times per cycle (flip, rollback, flip, rollback-all), wave-2 twice (flip, rollback-all).
    const expectedMoves = (wave1.includes(topic) ? 4 : 2) * CYCLES;
    for (let p = 0; p < PARTITIONS; p++) {
      const k = `${topic}/${p}`;
      const problemsBefore = problems.length;
      const moves = (movesOf.get(k) ?? []).sort((a, b) => a.version - b.version);
      if (moves.length !== expectedMoves) problems.push(`${k}: ${moves.length} ledger entries, expected ${expectedMoves}`);
      const bySide: Record<string, ConsumedRecord[]> = { source: srcBy.get(k) ?? [], target: tgtBy.get(k) ?? [] };
      const cursor: Record<string, number> = { source: 0, target: 0 };
      const sequence: ConsumedRecord[] = [];
      let side = 'source';
      // The first segment of a fresh topic starts at offset 0 of the source.
      let segmentStart: bigint | null = 0n;
      for (const m of moves) {
        if (m.from !== side) problems.push(`${k}: ledger move v${m.version} from ${m.from}, but the partition was on ${side}`);
        const last = m.lastOffsetOnOld === null ? null : BigInt(m.lastOffsetOnOld);
        const list = bySide[side];
        const begin = cursor[side];
        while (cursor[side] < list.length && last !== null && list[cursor[side]].offset <= last) sequence.push(list[cursor[side]++]);
        const taken = cursor[side] - begin;
        if (taken > 0) {
          segments++;
          if (segmentStart === null) problems.push(`${k}: ${taken} record(s) on ${side} before v${m.version}, but the ledger says nothing was written there`);
          else if (list[begin].offset !== segmentStart) problems.push(`${k}: segment on ${side} starts at ${list[begin].offset}, ledger says ${segmentStart}`);
          if (list[cursor[side] - 1].offset !== last) problems.push(`${k}: segment on ${side} ends at ${list[cursor[side] - 1].offset}, ledger says ${last}`);
        } else if (last !== null) {
          problems.push(`${k}: ledger v${m.version} says ${side} was written up to ${last}, but no record is there`);
        }
        side = m.to;
        segmentStart = m.firstOffsetOnNew === null ? null : BigInt(m.firstOffsetOnNew);
      }
      // The last segment runs to the end of the current side; the other side must be used up.
      const list = bySide[side];
      const tail = list.slice(cursor[side]);
      if (tail.length > 0) {
        segments++;
        if (segmentStart === null) problems.push(`${k}: ${tail.length} record(s) on ${side} after the last move, but the ledger has no first offset`);
        else if (tail[0].offset !== segmentStart) problems.push(`${k}: last segment on ${side} starts at ${tail[0].offset}, ledger says ${segmentStart}`);
      }
      sequence.push(...tail);
      cursor[side] = list.length;
      for (const s of ['source', 'target']) {
        if (cursor[s] !== bySide[s].length) problems.push(`${k}: ${bySide[s].length - cursor[s]} record(s) on ${s} outside every ledger segment (interleaved writes)`);
      }

      if (problems.length > problemsBefore && detailed < 3) {
        // Enough to diagnose a failure from the CI log: the partition's ledger and what each cluster holds.
        detailed++;
        t.diagnostic(`${k} ledger: ${moves.map((m) => `v${m.version} ${m.from}->${m.to} last=${m.lastOffsetOnOld} first=${m.firstOffsetOnNew}`).join(' | ')}`);
        for (const s of ['source', 'target']) t.diagnostic(`${k} on ${s}: ${bySide[s].map((r) => `${r.offset}:${r.value}`).join(' ')}`);
      }

      // Send order per producer and key, and per producer in the partition (idempotence keeps a partition's order).
      const lastPerKey = new Map<string, number>();
      const lastPerClient = new Map<string, number>();
      for (const r of sequence) {
        checked++;
        const value = r.value ?? '';
        const dash = value.lastIndexOf('-');
        const client = value.slice(0, dash);
        const seq = Number(value.slice(dash + 1));
        const keyId = `${client}\u0000${r.key}`;
        const prevKey = lastPerKey.get(keyId);
        if (prevKey !== undefined && prevKey >= seq) problems.push(`${k}: key ${r.key} of ${client}: ${client}-${seq} after ${client}-${prevKey}`);
        lastPerKey.set(keyId, seq);
        const prevClient = lastPerClient.get(client);
        if (prevClient !== undefined && prevClient >= seq) problems.push(`${k}: ${client}-${seq} after ${client}-${prevClient} (partition order)`);
        lastPerClient.set(client, seq);
      }
    }
  }

  // A key stays in its partition on both clusters (same partition counts, the client picks the partition).
  const partitionOfKey = new Map<string, Set<number>>();
  for (const r of [...src, ...tgt]) {
    const client = (r.value ?? '').slice(0, (r.value ?? '').lastIndexOf('-'));
    const id = `${client} ${r.topic} ${r.key}`;
    let s = partitionOfKey.get(id);
    if (!s) partitionOfKey.set(id, (s = new Set()));
    s.add(r.partition);
  }
  for (const [id, s] of partitionOfKey) if (s.size > 1) problems.push(`${id}: in partitions ${[...s].join(',')}`);

  t.diagnostic(`records checked: ${checked} (${src.length} on source, ${tgt.length} on target) in ${segments} segments; ledger entries: ${entries.length}; moves: ${holds.length}`);
  assert.deepEqual(problems.slice(0, 30), [], `${problems.length} problem(s)`);
  assert.equal(checked, seen.size);
});
