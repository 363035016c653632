// Persistence of transactional ids: an append-only JSON-lines file beside the route state
// (`<state.file>.transactions.jsonl`), one line per change of an id's home or ids, the newest line per id wins.
// A restart thus keeps each id's home cluster and the client-facing producer id it gave out, so a client that
// carries on after the restart is still recognised, and a home is not silently changed under an open
// transaction. In a fleet the same records go to a control topic instead (fleet-transaction-store.ts).
// The file also keeps the sequence bases of home periods that began with a move (transactional-producer.ts,
// lines `{"sequenceBase": key, "base": n}`, first line per key wins), so the first batch after a restart is
// rebased as before it; compaction keeps those of each id's current period only.
import fs from 'node:fs';
import type { Cluster } from '../../routing/cluster.ts';
import { TransactionalProducer, periodKeyOf } from './transactional-producer.ts';

/** One id as persisted (the file's lines, the fleet's `<prefix>.transactions` records). */
export interface StoredProducer {
  transactionalId: string;
  clientProducerId: string;
  clientEpoch: number;
  /** Absent in files written before the fleet kept it. */
  previousClientEpoch?: number;
  home: Cluster;
  upstreamProducerId: string;
  upstreamEpoch: number;
  /** Whether the home period began with the client's InitProducerId (absent: true). */
  aligned?: boolean;
  transactionTimeoutMs: number;
  coupledTopics: string[];
  groups: string[];
  /** A flip asked the open transaction to end (leaders refuse its batches): see TransactionalProducer. */
  abortRequested?: string | null;
}

export function toStored(p: TransactionalProducer): StoredProducer {
  return {
    transactionalId: p.transactionalId,
    clientProducerId: String(p.clientProducerId),
    clientEpoch: p.clientEpoch,
    previousClientEpoch: p.previousClientEpoch,
    home: p.home,
    upstreamProducerId: String(p.upstream.producerId),
    upstreamEpoch: p.upstream.producerEpoch,
    aligned: p.aligned,
    transactionTimeoutMs: p.transactionTimeoutMs,
    coupledTopics: [...p.coupledTopics],
    groups: [...p.groups],
    ...(p.abortRequested !== null ? { abortRequested: p.abortRequested } : {}),
  };
}

/** An id read back: nothing is known of a transaction that may be open upstream (stateKnown false). */
export function fromStored(s: StoredProducer): TransactionalProducer {
  const p = new TransactionalProducer({
    transactionalId: s.transactionalId,
    clientProducerId: BigInt(s.clientProducerId),
    clientEpoch: s.clientEpoch,
    home: s.home,
    upstream: { producerId: BigInt(s.upstreamProducerId), producerEpoch: s.upstreamEpoch },
    transactionTimeoutMs: s.transactionTimeoutMs,
  });
  p.previousClientEpoch = s.previousClientEpoch ?? -1;
  p.aligned = s.aligned ?? true;
  p.stateKnown = false;
  for (const t of s.coupledTopics) p.coupledTopics.add(t);
  for (const g of s.groups) p.groups.add(g);
  return p;
}

/** What a store shared by a fleet adds: the others' writes. */
export interface SharedTransactionState {
  /** Every state another instance writes, in log order. */
  onRemote(listener: (s: StoredProducer) => void): void;
}

/**
 * Durable sequence bases of (period, partition) keys: a base is used only once it is durable (and, in a fleet,
 * agreed: the first written wins), so a restart or a new leader rebases exactly as before.
 */
export interface SequenceBaseStore {
  get(key: string): number | undefined;
  /** Proposes a base; resolves with the one that holds (the first written). */
  propose(key: string, base: number): Promise<number>;
}

export interface TransactionStore {
  load(): TransactionalProducer[];
  save(p: TransactionalProducer): Promise<void>;
  /** Set by a fleet's store: ids are then served by several instances (docs/transactions.md §fleet). */
  readonly shared?: SharedTransactionState;
  /** Without it, bases are learned in memory (lost on restart). */
  readonly sequenceBases?: SequenceBaseStore;
}

export class MemoryTransactionStore implements TransactionStore {
  load(): TransactionalProducer[] {
    return [];
  }
  async save(_p: TransactionalProducer): Promise<void> {}
}

interface StoredBase {
  sequenceBase: string;
  base: number;
}

export class FileTransactionStore implements TransactionStore {
  readonly #file: string;
  readonly #bases = new Map<string, number>();
  readonly #proposals = new Map<string, Promise<number>>();
  readonly sequenceBases: SequenceBaseStore = {
    get: (key) => this.#bases.get(key),
    propose: (key, base) => {
      const known = this.#bases.get(key);
      if (known !== undefined) return Promise.resolve(known);
      let p = this.#proposals.get(key);
      if (p === undefined) {
        const line: StoredBase = { sequenceBase: key, base };
        p = fs.promises.appendFile(this.#file, `${JSON.stringify(line)}\n`).then(() => {
          if (!this.#bases.has(key)) this.#bases.set(key, base);
          return this.#bases.get(key)!;
        }).finally(() => this.#proposals.delete(key));
        this.#proposals.set(key, p);
      }
      return p;
    },
  };

  constructor(file: string) {
    this.#file = file;
  }

  load(): TransactionalProducer[] {
    let text: string;
    try {
      text = fs.readFileSync(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const newest = new Map<string, StoredProducer>();
    const bases = new Map<string, number>();
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      try {
        const s = JSON.parse(line) as StoredProducer | StoredBase;
        if ('sequenceBase' in s) {
          if (!bases.has(s.sequenceBase)) bases.set(s.sequenceBase, s.base);
        } else {
          newest.set(s.transactionalId, s);
        }
      } catch {
        // A torn last line (crash while appending) is skipped; anything else is corruption worth saying.
        if (i < text.split('\n').length - 2) throw new Error(`${this.#file}: line ${i + 1} is not JSON`);
      }
    }
    // Compact: one line per id, and the bases of each id's current period.
    const current = new Set([...newest.values()].map((s) => periodKeyOf(s.transactionalId, s.home, s.upstreamProducerId, s.upstreamEpoch)));
    const kept: StoredBase[] = [];
    for (const [key, base] of bases) {
      if (!current.has(key.slice(0, key.lastIndexOf('/', key.lastIndexOf('/') - 1)))) continue;
      this.#bases.set(key, base);
      kept.push({ sequenceBase: key, base });
    }
    fs.writeFileSync(`${this.#file}.tmp`, [...newest.values(), ...kept].map((s) => `${JSON.stringify(s)}\n`).join(''));
    fs.renameSync(`${this.#file}.tmp`, this.#file);
    return [...newest.values()].map(fromStored);
  }

  async save(p: TransactionalProducer): Promise<void> {
    await fs.promises.appendFile(this.#file, `${JSON.stringify(toStored(p))}\n`);
  }
}
