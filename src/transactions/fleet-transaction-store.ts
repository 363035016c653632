// The transaction store of a fleet member: ids' states in the fleet's `<prefix>.transactions` control topic
// (src/fleet/transaction-log.ts) instead of a local file, so that every member maps a transactional batch's
// producer id and epoch as the id's owner does, and a new owner after a failover continues from the last state
// the old one wrote. The owner writes before it answers (InitProducerId, a move), so by the time a client can
// send a batch under new ids, the state is in the log; a member that has not read it yet answers retriably.
import type { FleetTransactionLog } from '../fleet/transaction-log.ts';
import type { TransactionalProducer } from './transactional-producer.ts';
import { fromStored, toStored, type SequenceBaseStore, type SharedTransactionState, type StoredProducer, type TransactionStore } from './transaction-store.ts';

function isStored(v: unknown): v is StoredProducer {
  const s = v as Partial<StoredProducer> | null;
  return typeof s === 'object' && s !== null && typeof s.transactionalId === 'string' && typeof s.clientProducerId === 'string' && typeof s.upstreamProducerId === 'string';
}

export class FleetTransactionStore implements TransactionStore {
  readonly #log: FleetTransactionLog;
  readonly shared: SharedTransactionState;
  readonly sequenceBases: SequenceBaseStore;

  constructor(log: FleetTransactionLog) {
    this.#log = log;
    this.shared = {
      onRemote: (listener) => {
        log.onRemoteState((_id, v) => {
          if (isStored(v)) listener(v);
        });
      },
    };
    this.sequenceBases = { get: (key) => log.sequenceBase(key), propose: (key, base) => log.proposeSequenceBase(key, base) };
  }

  /** The states read when the fleet started (the log is read to its end before the proxy serves). */
  load(): TransactionalProducer[] {
    return [...this.#log.states().values()].filter(isStored).map(fromStored);
  }

  async save(p: TransactionalProducer): Promise<void> {
    await this.#log.saveState(p.transactionalId, toStored(p));
  }
}
