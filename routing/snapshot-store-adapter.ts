// Lets a store of the old shape ({ load, save } of the whole state) serve as a StateStore: it keeps the state in
// memory and saves all of it on every write. That is O(history) per write, which is why the embedded store is a
// journal now (file-state-store.ts); the adapter exists for small custom stores (tests) and keeps their semantics:
// an entry recorded while saving fails stays in memory and is written by the next successful save.

import { StateModel } from './state-model.ts';
import type { AuditEntry } from './route-state.ts';
import type {
  FirstOffsetUpdate,
  PersistedState,
  ProducerMapping,
  SnapshotStateStore,
  StateCommit,
  StateStore,
  StoreListener,
} from './state-store.ts';

export class SnapshotStoreAdapter implements StateStore {
  readonly #inner: SnapshotStateStore;
  #model: StateModel | null = null;

  constructor(inner: SnapshotStateStore) {
    this.#inner = inner;
  }

  async load(): Promise<PersistedState | null> {
    const state = await this.#inner.load();
    this.#model = StateModel.from(state);
    return state;
  }

  async commit(expectedVersion: number, next: StateCommit): Promise<void> {
    const model = await this.#loaded();
    model.check(expectedVersion, next, 'the store');
    // Built on a copy: a failed save must leave the model at the old version (the commit did not happen).
    const candidate = StateModel.from(model.toState());
    candidate.applyCommit(next);
    await this.#inner.save(candidate.toState());
    this.#model = candidate;
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    const model = await this.#loaded();
    model.appendAudit(entry);
    await this.#inner.save(model.toState());
  }

  async recordFirstOffsets(updates: readonly FirstOffsetUpdate[]): Promise<void> {
    const model = await this.#loaded();
    model.applyFirstOffsets(updates);
    await this.#inner.save(model.toState());
  }

  /** The old shape has nowhere to put mappings: they are kept for this process only. */
  async appendProducerMapping(mapping: ProducerMapping): Promise<void> {
    (await this.#loaded()).addMapping(mapping);
  }

  async loadProducerMappings(): Promise<readonly ProducerMapping[]> {
    return [...(await this.#loaded()).mappings.values()];
  }

  subscribe(_listener: StoreListener): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {}

  async #loaded(): Promise<StateModel> {
    if (this.#model === null) await this.load();
    return this.#model as StateModel;
  }
}
