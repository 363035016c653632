// The producer inventory: per topic, who writes to it (client id, client software, remote addresses, producer
// ids, idempotent/transactional, compression) and how much — the read-only first step of any migration. It also
// samples record values for the Confluent wire format (magic 0 + 4-byte schema id) to show which schema ids a
// topic carries, so "platform lag" and "schema breakage" can be told apart.
//
// Cost on the Produce path: header reads only (no record decode) for every batch; a record value is decoded for
// one batch in `sampleEvery` per topic, and compressed batches are inflated at most `maxInflatesPerSecond` times.
// Memory is bounded by LRU caps on topics, producers per topic and the sets inside.
import zlib from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { iterateBatches, type BatchView } from '../protocol/record-batch.ts';
import type { Cluster } from '../routing/cluster.ts';

export interface InventoryOptions {
  maxTopics?: number;
  maxProducersPerTopic?: number;
  /** Decode one batch value in this many per topic. */
  sampleEvery?: number;
  /** Bound of decompressions for schema sampling. */
  maxInflatesPerSecond?: number;
}

export interface ProducerIdentity {
  clientId: string | null;
  softwareName: string | null;
  softwareVersion: string | null;
  remoteAddress: string;
  principal: string | null;
}

interface ProducerStats {
  clientId: string | null;
  softwareName: string | null;
  softwareVersion: string | null;
  principal: string | null;
  remoteAddresses: Set<string>;
  producerIds: Set<string>;
  idempotent: boolean;
  transactional: boolean;
  compressions: Set<string>;
  clusters: Set<Cluster>;
  records: number;
  bytes: number;
  firstSeen: number;
  lastSeen: number;
  /** Exponentially weighted rates, updated on each observation. */
  recordsPerSec: number;
  bytesPerSec: number;
}

interface TopicStats {
  producers: LRUCache<string, ProducerStats>;
  schemaIds: Map<number, number>;
  nonSchemaValues: number;
  batchesSeen: number;
}

export interface InventoryProducerView {
  clientId: string | null;
  software: { name: string | null; version: string | null };
  principal: string | null;
  remoteAddresses: string[];
  producerIds: string[];
  idempotent: boolean;
  transactional: boolean;
  compressions: string[];
  clusters: Cluster[];
  records: number;
  bytes: number;
  recordsPerSec: number;
  bytesPerSec: number;
  firstSeen: string;
  lastSeen: string;
}

export interface InventoryTopicView {
  topic: string;
  producers: InventoryProducerView[];
  /** Confluent schema ids seen in sampled values, with how many samples carried each. */
  schemaIds: { id: number; samples: number }[];
  /** Sampled values that were not in the Confluent wire format. */
  nonSchemaSamples: number;
}

const MAX_SET = 32;
const RATE_HALF_LIFE_MS = 10_000;

function addBounded<T>(set: Set<T>, value: T): void {
  if (set.size < MAX_SET || set.has(value)) set.add(value);
}

export class ProducerInventory {
  readonly #topics: LRUCache<string, TopicStats>;
  readonly #maxProducers: number;
  readonly #sampleEvery: number;
  readonly #maxInflates: number;
  #inflateWindow = { start: 0, count: 0 };

  constructor(opts: InventoryOptions = {}) {
    this.#topics = new LRUCache({ max: opts.maxTopics ?? 10_000 });
    this.#maxProducers = opts.maxProducersPerTopic ?? 100;
    this.#sampleEvery = opts.sampleEvery ?? 50;
    this.#maxInflates = opts.maxInflatesPerSecond ?? 20;
  }

  /** One partition's records of one Produce request, after routing. */
  observe(who: ProducerIdentity, topic: string, cluster: Cluster, records: Buffer | null, transactionalId: string | null, now = Date.now()): void {
    let t = this.#topics.get(topic);
    if (!t) {
      t = { producers: new LRUCache({ max: this.#maxProducers }), schemaIds: new Map(), nonSchemaValues: 0, batchesSeen: 0 };
      this.#topics.set(topic, t);
    }
    const key = `${who.clientId ?? ''}\u0000${who.softwareName ?? ''}\u0000${who.principal ?? ''}`;
    let p = t.producers.get(key);
    if (!p) {
      p = {
        clientId: who.clientId, softwareName: who.softwareName, softwareVersion: who.softwareVersion, principal: who.principal,
        remoteAddresses: new Set(), producerIds: new Set(), idempotent: false, transactional: false,
        compressions: new Set(), clusters: new Set(), records: 0, bytes: 0, firstSeen: now, lastSeen: now,
        recordsPerSec: 0, bytesPerSec: 0,
      };
      t.producers.set(key, p);
    }
    addBounded(p.remoteAddresses, who.remoteAddress.replace(/:\d+$/, ''));
    p.clusters.add(cluster);
    if (transactionalId !== null) p.transactional = true;
    let recs = 0;
    const bytes = records?.length ?? 0;
    if (records !== null && records.length > 0) {
      try {
        for (const b of iterateBatches(records)) {
          if (!('producerId' in b)) {
            addBounded(p.compressions, 'legacy');
            continue;
          }
          recs += b.recordCount;
          addBounded(p.compressions, b.compressionName);
          if (b.producerId >= 0n) {
            p.idempotent = true;
            addBounded(p.producerIds, `${b.producerId}`);
          }
          if (b.isTransactional) p.transactional = true;
          if (t.batchesSeen++ % this.#sampleEvery === 0) this.#sampleSchema(t, b, now);
        }
      } catch {
        // Malformed batches are the broker's to refuse; the inventory counts bytes only.
      }
    }
    const dt = Math.max(1, now - p.lastSeen);
    const decay = Math.pow(0.5, dt / RATE_HALF_LIFE_MS);
    // Rate = decayed average of (amount / interval), good enough to tell idle from busy producers.
    p.recordsPerSec = p.recordsPerSec * decay + (1 - decay) * ((recs * 1000) / dt);
    p.bytesPerSec = p.bytesPerSec * decay + (1 - decay) * ((bytes * 1000) / dt);
    p.records += recs;
    p.bytes += bytes;
    p.lastSeen = now;
  }

  #sampleSchema(t: TopicStats, b: BatchView, now: number): void {
    let payload: Buffer = b.bytes.subarray(61);
    if (b.compression !== 0) {
      if (now - this.#inflateWindow.start >= 1000) this.#inflateWindow = { start: now, count: 0 };
      if (this.#inflateWindow.count >= this.#maxInflates) return;
      this.#inflateWindow.count++;
      try {
        if (b.compressionName === 'gzip') payload = zlib.gunzipSync(payload, { maxOutputLength: 8 * 1024 * 1024 });
        else if (b.compressionName === 'zstd' && typeof zlib.zstdDecompressSync === 'function') payload = zlib.zstdDecompressSync(payload, { maxOutputLength: 8 * 1024 * 1024 });
        else return; // lz4 and snappy need libraries the proxy does not carry: not sampled
      } catch {
        return;
      }
    }
    const value = firstRecordValue(payload);
    if (value === null) return;
    if (value.length >= 5 && value[0] === 0) {
      const id = value.readInt32BE(1);
      if (t.schemaIds.has(id) || t.schemaIds.size < 64) t.schemaIds.set(id, (t.schemaIds.get(id) ?? 0) + 1);
    } else {
      t.nonSchemaValues++;
    }
  }

  topics(): InventoryTopicView[] {
    const out: InventoryTopicView[] = [];
    for (const [topic, t] of this.#topics.entries()) {
      out.push({
        topic,
        producers: [...t.producers.values()].map((p) => ({
          clientId: p.clientId,
          software: { name: p.softwareName, version: p.softwareVersion },
          principal: p.principal,
          remoteAddresses: [...p.remoteAddresses],
          producerIds: [...p.producerIds],
          idempotent: p.idempotent,
          transactional: p.transactional,
          compressions: [...p.compressions],
          clusters: [...p.clusters],
          records: p.records,
          bytes: p.bytes,
          recordsPerSec: Math.round(p.recordsPerSec * 10) / 10,
          bytesPerSec: Math.round(p.bytesPerSec),
          firstSeen: new Date(p.firstSeen).toISOString(),
          lastSeen: new Date(p.lastSeen).toISOString(),
        })),
        schemaIds: [...t.schemaIds].map(([id, samples]) => ({ id, samples })).sort((a, b) => a.id - b.id),
        nonSchemaSamples: t.nonSchemaValues,
      });
    }
    return out.sort((a, b) => a.topic.localeCompare(b.topic));
  }
}

/** Reads the value of the first record in an (uncompressed) records section; null if it cannot. */
export function firstRecordValue(buf: Buffer): Buffer | null {
  let o = 0;
  const varint = (): number | null => {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      if (o >= buf.length) return null;
      const byte = buf[o++];
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return (result >>> 1) ^ -(result & 1);
      shift += 7;
    }
    return null;
  };
  const skipVarlong = (): boolean => {
    for (let i = 0; i < 10; i++) {
      if (o >= buf.length) return false;
      if ((buf[o++] & 0x80) === 0) return true;
    }
    return false;
  };
  if (varint() === null) return null; // record length
  if (o >= buf.length) return null;
  o++; // attributes
  if (!skipVarlong()) return null; // timestamp delta
  if (varint() === null) return null; // offset delta
  const keyLen = varint();
  if (keyLen === null) return null;
  if (keyLen > 0) o += keyLen;
  const valueLen = varint();
  if (valueLen === null || valueLen < 0 || o + valueLen > buf.length) return null;
  return buf.subarray(o, o + valueLen);
}
