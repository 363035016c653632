// The producer inventory: per topic, who writes to it (client id, client software, remote addresses, producer
// ids, idempotent/transactional, compression) and how much — the read-only first step of any migration. It also
// collects the schema ids a topic's records carry (Confluent wire format in key and value, and the
// `__key_schema_id` / `__value_schema_id` headers), so "platform lag" and "schema breakage" can be told apart and
// the schema gate knows which ids must resolve in the target registry.
//
// Cost on the Produce path: O(batches) header reads of batches the Produce path has already split and checked;
// no record is read and nothing is decompressed here. One batch in `sampleEvery` per topic is offered to the
// SchemaSampler, which inflates and reads it asynchronously within its rate and byte budgets (gates/schema-sampler.ts).
// Memory is bounded by LRU caps on topics, producers per topic and the sets inside.
import { LRUCache } from 'lru-cache';
import type { BatchView } from '../protocol/record-batch.ts';
import type { Cluster } from '../routing/cluster.ts';
import { SchemaSampler, type SamplerStats, type SchemaSamplerOptions } from './gates/schema-sampler.ts';
import type { ScanResult, SchemaPart } from './gates/schema-refs.ts';

export interface InventoryOptions {
  maxTopics?: number;
  maxProducersPerTopic?: number;
  /** Offer one batch in this many per topic to the schema sampler. Default 50. */
  sampleEvery?: number;
  /** Budgets of the asynchronous schema sampler (rate, bytes, concurrency). */
  sampler?: SchemaSamplerOptions;
  /** Subjects of a schema id in the source registry, when known (filled in by the schema gate's lookups). */
  subjectsOf?: (id: number) => readonly string[] | undefined;
  /** A schema id seen for the first time on a topic, so its subjects can be looked up off the hot path. */
  onNewSchemaId?: (topic: string, id: number) => void;
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

interface SchemaIdStats {
  samples: number;
  parts: Set<SchemaPart>;
  via: Set<'payload' | 'header'>;
}

interface TopicStats {
  producers: LRUCache<string, ProducerStats>;
  schemaIds: Map<number, SchemaIdStats>;
  /** Header GUIDs (magic 1): reported, but the Confluent id API cannot resolve them. */
  schemaGuids: Map<string, number>;
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
  /** Schema ids seen in sampled records: how many records carried each, in key and/or value, and its subjects
   *  in the source registry (empty until looked up, or when no registry is configured). */
  schemaIds: InventorySchemaId[];
  /** Schema GUIDs from `__key_schema_id`/`__value_schema_id` headers (magic 1). */
  schemaGuids?: { guid: string; samples: number }[];
  /** Sampled values that were not in the Confluent wire format. */
  nonSchemaSamples: number;
}

/** One schema id of a topic. The fields after `samples` are optional only so older views still parse. */
export interface InventorySchemaId {
  id: number;
  samples: number;
  parts?: SchemaPart[];
  via?: ('payload' | 'header')[];
  subjects?: string[];
}

const MAX_SET = 32;
const MAX_SCHEMA_IDS = 64;
const RATE_HALF_LIFE_MS = 10_000;

function addBounded<T>(set: Set<T>, value: T): void {
  if (set.size < MAX_SET || set.has(value)) set.add(value);
}

export class ProducerInventory {
  readonly #topics: LRUCache<string, TopicStats>;
  readonly #maxProducers: number;
  readonly #sampleEvery: number;
  readonly #sampler: SchemaSampler;
  readonly #subjectsOf: (id: number) => readonly string[] | undefined;
  readonly #onNewSchemaId: ((topic: string, id: number) => void) | undefined;

  constructor(opts: InventoryOptions = {}) {
    this.#topics = new LRUCache({ max: opts.maxTopics ?? 10_000 });
    this.#maxProducers = opts.maxProducersPerTopic ?? 100;
    this.#sampleEvery = Math.max(1, opts.sampleEvery ?? 50);
    this.#sampler = new SchemaSampler((topic, result) => this.#recordSample(topic, result), opts.sampler);
    this.#subjectsOf = opts.subjectsOf ?? (() => undefined);
    this.#onNewSchemaId = opts.onNewSchemaId;
  }

  /** The asynchronous sampler's counters (offered, dropped for rate/bytes, unsupported codecs, …). */
  get samplerStats(): Readonly<SamplerStats> {
    return this.#sampler.stats;
  }

  /** Resolves once every queued sample has been read (tests; a gate that wants fresh ids). */
  samplesSettled(): Promise<void> {
    return this.#sampler.idle();
  }

  close(): void {
    this.#sampler.close();
  }

  /**
   * One partition's records of one Produce request, after routing. `batches` are the Produce path's own header
   * pass over `records` (splitBatches, already checked): no second pass, no record read, O(batches).
   */
  observe(who: ProducerIdentity, topic: string, cluster: Cluster, batches: readonly BatchView[], records: Buffer | null, now = Date.now()): boolean {
    const t = this.#topic(topic);
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
    let recs = 0;
    /** A batch view went into the sampler's queue: the caller must keep the frame (PartitionWrite.recordsKept). */
    let queued = false;
    const bytes = records?.length ?? 0;
    for (const b of batches) {
      recs += b.recordCount;
      addBounded(p.compressions, b.compressionName);
      const producerId = b.producerId;
      if (producerId >= 0n) {
        p.idempotent = true;
        addBounded(p.producerIds, `${producerId}`);
      }
      if (b.isTransactional) p.transactional = true;
      if (!b.isControl && t.batchesSeen++ % this.#sampleEvery === 0 && this.#sampler.offer(topic, b)) queued = true;
    }
    const dt = Math.max(1, now - p.lastSeen);
    const decay = Math.pow(0.5, dt / RATE_HALF_LIFE_MS);
    // Rate = decayed average of (amount / interval), good enough to tell idle from busy producers.
    p.recordsPerSec = p.recordsPerSec * decay + (1 - decay) * ((recs * 1000) / dt);
    p.bytesPerSec = p.bytesPerSec * decay + (1 - decay) * ((bytes * 1000) / dt);
    p.records += recs;
    p.bytes += bytes;
    p.lastSeen = now;
    return queued;
  }

  /** Schema ids seen on these topics (for the schema gate), with the parts (key/value) that carried them. */
  schemaIdsOf(topics: readonly string[]): Map<string, Map<number, SchemaPart[]>> {
    const out = new Map<string, Map<number, SchemaPart[]>>();
    for (const topic of topics) {
      const t = this.#topics.peek(topic);
      if (t === undefined || t.schemaIds.size === 0) continue;
      out.set(topic, new Map([...t.schemaIds].map(([id, s]) => [id, [...s.parts]])));
    }
    return out;
  }

  #topic(topic: string): TopicStats {
    let t = this.#topics.get(topic);
    if (!t) {
      t = { producers: new LRUCache({ max: this.#maxProducers }), schemaIds: new Map(), schemaGuids: new Map(), nonSchemaValues: 0, batchesSeen: 0 };
      this.#topics.set(topic, t);
    }
    return t;
  }

  #recordSample(topic: string, result: ScanResult): void {
    // peek: a sample finishing must not make an idle topic "recently used" in the LRU.
    const t = this.#topics.peek(topic);
    if (t === undefined) return;
    t.nonSchemaValues += result.plainValues;
    for (const ref of result.refs) {
      if (ref.id !== null) {
        let s = t.schemaIds.get(ref.id);
        if (s === undefined) {
          if (t.schemaIds.size >= MAX_SCHEMA_IDS) continue;
          s = { samples: 0, parts: new Set(), via: new Set() };
          t.schemaIds.set(ref.id, s);
          this.#onNewSchemaId?.(topic, ref.id);
        }
        s.samples++;
        s.parts.add(ref.part);
        s.via.add(ref.via);
      } else if (ref.guid !== null && (t.schemaGuids.has(ref.guid) || t.schemaGuids.size < MAX_SCHEMA_IDS)) {
        t.schemaGuids.set(ref.guid, (t.schemaGuids.get(ref.guid) ?? 0) + 1);
      }
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
        schemaIds: [...t.schemaIds]
          .map(([id, s]) => ({ id, samples: s.samples, parts: [...s.parts].sort(), via: [...s.via].sort(), subjects: [...(this.#subjectsOf(id) ?? [])] }))
          .sort((a, b) => a.id - b.id),
        schemaGuids: [...t.schemaGuids].map(([guid, samples]) => ({ guid, samples })).sort((a, b) => a.guid.localeCompare(b.guid)),
        nonSchemaSamples: t.nonSchemaValues,
      });
    }
    return out.sort((a, b) => a.topic.localeCompare(b.topic));
  }
}
