// A store in memory, for tests and single-process experiments. `load` returns state that has been through the
// same JSON codec as a real store (no shared objects, bigints round-tripped), so tests see what a restart would.

import { StateModel } from './state-model.ts';
import { decodeState, encodeState } from './state-codec.ts';
import type {
  FirstOffsetUpdate,
  PersistedState,
  ProducerMapping,
  StateCommit,
  StateStore,
  StoreListener,
} from './state-store.ts';
import type { AuditEntry } from './route-state.ts';
import type { WriteBackUpdate } from './sync-map.ts';

export class MemoryStateStore implements StateStore {
  #model = new StateModel();
  /** Durable writes of any kind (commits, audit appends, ledger updates, mappings, whole saves). */
  saves = 0;

  async load(): Promise<PersistedState | null> {
    return this.#model.written ? decodeState(encodeState(this.#model.toState()), 'in memory') : null;
  }

  /** Replaces everything (tests seed a state this way). */
  async save(state: PersistedState): Promise<void> {
    this.#model = StateModel.from(decodeState(encodeState(state), 'in memory'));
    this.saves += 1;
  }

  async commit(expectedVersion: number, next: StateCommit): Promise<void> {
    this.#model.check(expectedVersion, next, 'the memory store');
    this.#model.applyCommit(structuredClone(next));
    this.saves += 1;
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    this.#model.appendAudit(structuredClone(entry));
    this.saves += 1;
  }

  async recordFirstOffsets(updates: readonly FirstOffsetUpdate[]): Promise<void> {
    this.#model.applyFirstOffsets(updates);
    this.saves += 1;
  }

  async appendProducerMapping(mapping: ProducerMapping): Promise<void> {
    this.#model.addMapping({ ...mapping });
    this.saves += 1;
  }

  async appendWriteBack(updates: readonly WriteBackUpdate[]): Promise<void> {
    for (const u of structuredClone(updates)) this.#model.writeBack.apply(u);
    this.saves += 1;
  }

  async loadWriteBack(): Promise<readonly WriteBackUpdate[]> {
    return structuredClone(this.#model.writeBack.toUpdates());
  }

  async loadProducerMappings(): Promise<readonly ProducerMapping[]> {
    return [...this.#model.mappings.values()].map((m) => ({ ...m }));
  }

  /** Nobody else writes to a memory store: listeners never fire. */
  subscribe(_listener: StoreListener): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {}

  /** The state as a v1 JSON document, for assertions. */
  get document(): string | null {
    return this.#model.written ? encodeState(this.#model.toState()) : null;
  }
}
