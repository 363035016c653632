// Checks over what the clusters hold after a fleet test, read directly (never through kmp): the per-partition
// segments against the ledger, producer order across clusters, "no interleaving" for a single move, and the
// Metadata view (brokers, leaders) a member answers. Also the small statistics the FLEET-FIGURES lines print.
import type { ConsumedRecord } from './kafka.ts';
import { kafkaFor } from './kafka.ts';
import type { RunningProxy } from './proxy.ts';
import type { StreamingProducer } from './streaming-producers.ts';

export interface LedgerEntry {
  topic: string;
  partition: number;
  from: string;
  to: string;
  version: number;
  lastOffsetOnOld: string | null;
  firstOffsetOnNew: string | null;
}

export type Side = 'source' | 'target';

/** A value written by the streaming producers: `<client>-<seq>`. */
export function parseValue(value: string | null): { client: string; seq: number } | null {
  if (value === null) return null;
  const dash = value.lastIndexOf('-');
  const seq = Number(value.slice(dash + 1));
  if (dash <= 0 || !Number.isInteger(seq)) return null;
  return { client: value.slice(0, dash), seq };
}

export function byPartition(records: readonly ConsumedRecord[]): Map<string, ConsumedRecord[]> {
  const m = new Map<string, ConsumedRecord[]>();
  for (const r of records) {
    const k = `${r.topic}/${r.partition}`;
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(r);
  }
  for (const l of m.values()) l.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  return m;
}

/**
 * Each partition's records on each cluster form contiguous segments whose boundaries are the ledger's offsets
 * (cut after lastOffsetOnOld, resumed at firstOffsetOnNew); walking the ledger rebuilds the partition's sequence
 * across clusters, in which every producer's records keep their send order (per key and per partition).
 * Returns the problems found (empty = all good) and how many records were checked.
 */
export function checkSegmentsAgainstLedger(opts: {
  topics: readonly string[];
  partitions: number;
  source: readonly ConsumedRecord[];
  target: readonly ConsumedRecord[];
  ledger: readonly LedgerEntry[];
  /** Ledger entries expected per partition of a topic (moves that touched it). */
  expectedMoves: (topic: string) => number;
}): { problems: string[]; checked: number; segments: number } {
  const srcBy = byPartition(opts.source);
  const tgtBy = byPartition(opts.target);
  const movesOf = new Map<string, LedgerEntry[]>();
  for (const e of opts.ledger) {
    const k = `${e.topic}/${e.partition}`;
    let l = movesOf.get(k);
    if (!l) movesOf.set(k, (l = []));
    l.push(e);
  }
  const problems: string[] = [];
  let checked = 0;
  let segments = 0;
  for (const topic of opts.topics) {
    for (let p = 0; p < opts.partitions; p++) {
      const k = `${topic}/${p}`;
      const moves = (movesOf.get(k) ?? []).sort((a, b) => a.version - b.version);
      if (moves.length !== opts.expectedMoves(topic)) problems.push(`${k}: ${moves.length} ledger entries, expected ${opts.expectedMoves(topic)}`);
      const bySide: Record<Side, ConsumedRecord[]> = { source: srcBy.get(k) ?? [], target: tgtBy.get(k) ?? [] };
      const cursor: Record<Side, number> = { source: 0, target: 0 };
      const sequence: ConsumedRecord[] = [];
      let side: Side = 'source';
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
        side = m.to === 'target' ? 'target' : 'source';
        segmentStart = m.firstOffsetOnNew === null ? null : BigInt(m.firstOffsetOnNew);
      }
      const list = bySide[side];
      const tail = list.slice(cursor[side]);
      if (tail.length > 0) {
        segments++;
        if (segmentStart === null) problems.push(`${k}: ${tail.length} record(s) on ${side} after the last move, but the ledger has no first offset`);
        else if (tail[0].offset !== segmentStart) problems.push(`${k}: last segment on ${side} starts at ${tail[0].offset}, ledger says ${segmentStart}`);
      }
      sequence.push(...tail);
      cursor[side] = list.length;
      for (const s of ['source', 'target'] as const) {
        if (cursor[s] !== bySide[s].length) problems.push(`${k}: ${bySide[s].length - cursor[s]} record(s) on ${s} outside every ledger segment (interleaved writes)`);
      }
      checked += sequence.length;
      problems.push(...orderProblems(k, sequence));
    }
  }
  return { problems, checked, segments };
}

/** Send order per producer and key, and per producer in the partition, over a partition's sequence. */
export function orderProblems(label: string, sequence: readonly ConsumedRecord[]): string[] {
  const problems: string[] = [];
  const lastPerKey = new Map<string, number>();
  const lastPerClient = new Map<string, number>();
  for (const r of sequence) {
    const v = parseValue(r.value);
    if (v === null) continue;
    const keyId = `${v.client}\u0000${r.key}`;
    const prevKey = lastPerKey.get(keyId);
    if (prevKey !== undefined && prevKey >= v.seq) problems.push(`${label}: key ${r.key} of ${v.client}: ${v.client}-${v.seq} after ${v.client}-${prevKey}`);
    lastPerKey.set(keyId, v.seq);
    const prevClient = lastPerClient.get(v.client);
    if (prevClient !== undefined && prevClient >= v.seq) problems.push(`${label}: ${v.client}-${v.seq} after ${v.client}-${prevClient} (partition order)`);
    lastPerClient.set(v.client, v.seq);
  }
  return problems;
}

/**
 * One move from `from` to the other cluster: in each partition, each producer's records on `from` all precede
 * (in its send order) its records on the other cluster — no write on the old route after one on the new — and
 * each cluster's own log keeps that producer's order.
 */
export function interleavingProblems(source: readonly ConsumedRecord[], target: readonly ConsumedRecord[], from: Side): string[] {
  const problems: string[] = [];
  const old = byPartition(from === 'source' ? source : target);
  const neu = byPartition(from === 'source' ? target : source);
  for (const k of new Set([...old.keys(), ...neu.keys()])) {
    problems.push(...orderProblems(`${k} on ${from}`, old.get(k) ?? []));
    problems.push(...orderProblems(`${k} after the move`, neu.get(k) ?? []));
    const lastOld = new Map<string, number>();
    for (const r of old.get(k) ?? []) {
      const v = parseValue(r.value);
      if (v !== null) lastOld.set(v.client, Math.max(lastOld.get(v.client) ?? -1, v.seq));
    }
    const firstNew = new Map<string, number>();
    for (const r of neu.get(k) ?? []) {
      const v = parseValue(r.value);
      if (v !== null) firstNew.set(v.client, Math.min(firstNew.get(v.client) ?? Infinity, v.seq));
    }
    for (const [client, first] of firstNew) {
      const last = lastOld.get(client);
      if (last !== undefined && last > first) problems.push(`${k}: ${client}-${last} on the old cluster after ${client}-${first} on the new one (interleaved)`);
    }
  }
  return problems;
}

/** What one member answers to Metadata: its broker ids and each partition's leader (`topic/partition` → node id). */
export async function metadataVia(member: RunningProxy, topics: readonly string[]): Promise<{ brokers: number[]; leaders: Map<string, number> }> {
  const a = kafkaFor(member.bootstrap, 'kmp-fleet-checks').admin();
  await a.connect();
  try {
    const cluster = await a.describeCluster();
    const meta = await a.fetchTopicMetadata({ topics: [...topics] });
    const leaders = new Map<string, number>();
    for (const t of meta.topics) for (const p of t.partitions) leaders.set(`${t.name}/${p.partitionId}`, p.leader);
    return { brokers: cluster.brokers.map((b) => b.nodeId).sort((x, y) => x - y), leaders };
  } finally {
    await a.disconnect();
  }
}

/** Acknowledged values whose partition the client reported, grouped `topic/partition` → values. */
export function ackedByPartition(producer: StreamingProducer): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [value, ack] of producer.acked) {
    if (ack.partition === null) continue;
    const k = `${ack.topic}/${ack.partition}`;
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(value);
  }
  return m;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** One grep-able line for CI logs: `FLEET-FIGURES {"test":…,…}`. */
export function printFigures(test: string, figures: Record<string, unknown>): void {
  console.log(`FLEET-FIGURES ${JSON.stringify({ test, ...figures })}`);
}

/** Hold median and max per member over a list of flip answers' `members`. */
export function holdFigures(holds: Record<string, number[]>): Record<string, { moves: number; medianMs: number; maxMs: number }> {
  return Object.fromEntries(
    Object.entries(holds).map(([member, xs]) => [member, { moves: xs.length, medianMs: Math.round(median(xs) * 10) / 10, maxMs: Math.round(Math.max(...xs) * 10) / 10 }]),
  );
}
