// Persistence of transactional ids: an append-only JSON-lines file beside the route state
// (`<state.file>.transactions.jsonl`), one line per change of an id's home or ids, the newest line per id wins.
// A restart thus keeps each id's home cluster and the client-facing producer id it gave out, so a client that
// carries on after the restart is still recognised, and a home is not silently changed under an open
// transaction. (In the fleet this belongs in the control topics, next to the producer-id mappings.)
import fs from 'node:fs';
import type { Cluster } from '../../routing/cluster.ts';
import { TransactionalProducer } from './transactional-producer.ts';

interface StoredProducer {
  transactionalId: string;
  clientProducerId: string;
  clientEpoch: number;
  home: Cluster;
  upstreamProducerId: string;
  upstreamEpoch: number;
  transactionTimeoutMs: number;
  coupledTopics: string[];
  groups: string[];
}

export interface TransactionStore {
  load(): TransactionalProducer[];
  save(p: TransactionalProducer): Promise<void>;
}

export class MemoryTransactionStore implements TransactionStore {
  load(): TransactionalProducer[] {
    return [];
  }
  async save(_p: TransactionalProducer): Promise<void> {}
}

export class FileTransactionStore implements TransactionStore {
  readonly #file: string;

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
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      try {
        const s = JSON.parse(line) as StoredProducer;
        newest.set(s.transactionalId, s);
      } catch {
        // A torn last line (crash while appending) is skipped; anything else is corruption worth saying.
        if (i < text.split('\n').length - 2) throw new Error(`${this.#file}: line ${i + 1} is not JSON`);
      }
    }
    // Compact: one line per id.
    fs.writeFileSync(`${this.#file}.tmp`, [...newest.values()].map((s) => `${JSON.stringify(s)}\n`).join(''));
    fs.renameSync(`${this.#file}.tmp`, this.#file);
    return [...newest.values()].map((s) => {
      const p = new TransactionalProducer({
        transactionalId: s.transactionalId,
        clientProducerId: BigInt(s.clientProducerId),
        clientEpoch: s.clientEpoch,
        home: s.home,
        upstream: { producerId: BigInt(s.upstreamProducerId), producerEpoch: s.upstreamEpoch },
        transactionTimeoutMs: s.transactionTimeoutMs,
      });
      for (const t of s.coupledTopics) p.coupledTopics.add(t);
      for (const g of s.groups) p.groups.add(g);
      return p;
    });
  }

  async save(p: TransactionalProducer): Promise<void> {
    const s: StoredProducer = {
      transactionalId: p.transactionalId,
      clientProducerId: String(p.clientProducerId),
      clientEpoch: p.clientEpoch,
      home: p.home,
      upstreamProducerId: String(p.upstream.producerId),
      upstreamEpoch: p.upstream.producerEpoch,
      transactionTimeoutMs: p.transactionTimeoutMs,
      coupledTopics: [...p.coupledTopics],
      groups: [...p.groups],
    };
    await fs.promises.appendFile(this.#file, `${JSON.stringify(s)}\n`);
  }
}
