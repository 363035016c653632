// The stored state in memory, as the stores (journal, memory, snapshot adapter) keep it: routes, audit, ledger and
// producer mappings, changed only by the same small records the StateStore interface writes. Applying a record is
// O(change): arrays grow by push and ledger entries are found through an index, never by scanning the history.

import type { RouteStateName } from './cluster.ts';
import { StaleVersionError, StateStoreError } from './errors.ts';
import { applyChanges, type AuditEntry, type LedgerEntry, type RouteState } from './route-state.ts';
import { SyncMap } from './sync-map.ts';
import { producerMappingKey, type FirstOffsetUpdate, type ProducerMapping, type StateCommit } from './state-store.ts';

export function ledgerKey(version: number, topic: string, partition: number): string {
  return `${version}\u0000${topic}\u0000${partition}`;
}

export class StateModel {
  version = 0;
  batches: ReadonlyMap<string, RouteStateName> = new Map();
  topics: ReadonlyMap<string, RouteStateName> = new Map();
  readonly audit: AuditEntry[] = [];
  readonly ledger: LedgerEntry[] = [];
  readonly mappings = new Map<string, ProducerMapping>();
  /** Write-back progress and sync-map entries, folded (see routing/sync-map.ts). */
  readonly writeBack = new SyncMap();
  /** Has anything been written (a store with nothing in it loads as null). */
  written = false;
  readonly #ledgerByKey = new Map<string, LedgerEntry>();

  static from(state: RouteState | null): StateModel {
    const model = new StateModel();
    if (state === null) return model;
    model.written = true;
    model.version = state.version;
    model.batches = new Map(state.batches);
    model.topics = new Map(state.topics);
    for (const entry of state.audit) model.audit.push(entry);
    for (const entry of state.ledger) model.#addLedger({ ...entry });
    return model;
  }

  /** StaleVersionError unless the model is at `expectedVersion`; a malformed commit is a StateStoreError. */
  check(expectedVersion: number, next: StateCommit, origin: string): void {
    if (expectedVersion !== this.version) {
      throw new StaleVersionError(
        `the routes changed elsewhere: this change was based on version ${expectedVersion} but ${origin} is at version ${this.version}; ` +
          'nothing was switched. Read the routes again (GET /v1/routes) and retry',
        expectedVersion,
        this.version,
      );
    }
    if (next.version !== expectedVersion + 1) {
      throw new StateStoreError(`a commit on version ${expectedVersion} must create version ${expectedVersion + 1}, not ${next.version}`);
    }
  }

  applyCommit(next: StateCommit): void {
    const assignment = applyChanges(this, next.changes, next.version);
    this.version = assignment.version;
    this.batches = assignment.batches;
    this.topics = assignment.topics;
    for (const entry of next.audit) this.audit.push(entry);
    for (const entry of next.ledger) this.#addLedger({ ...entry });
    this.written = true;
  }

  appendAudit(entry: AuditEntry): void {
    this.audit.push(entry);
    this.written = true;
  }

  /** Adds a ledger entry as it stands (compacted journals store entries directly). */
  appendLedger(entry: LedgerEntry): void {
    this.#addLedger({ ...entry });
    this.written = true;
  }

  /** The lowest offset wins, so replaying an update, or updates from several instances, is harmless. */
  applyFirstOffsets(updates: readonly FirstOffsetUpdate[]): void {
    for (const u of updates) {
      const entry = this.#ledgerByKey.get(ledgerKey(u.version, u.topic, u.partition));
      if (entry !== undefined && (entry.firstOffsetOnNew === null || u.offset < entry.firstOffsetOnNew)) entry.firstOffsetOnNew = u.offset;
    }
    this.written = true;
  }

  addMapping(mapping: ProducerMapping): void {
    this.mappings.set(producerMappingKey(mapping), mapping);
    this.written = true;
  }

  setRoutes(version: number, batches: ReadonlyMap<string, RouteStateName>, topics: ReadonlyMap<string, RouteStateName>): void {
    this.version = version;
    this.batches = new Map(batches);
    this.topics = new Map(topics);
    this.written = true;
  }

  /** A copy of everything (O(history): for load() at start, never on a write path). */
  toState(): RouteState {
    return {
      version: this.version,
      batches: new Map(this.batches),
      topics: new Map(this.topics),
      audit: [...this.audit],
      ledger: this.ledger.map((e) => ({ ...e })),
    };
  }

  #addLedger(entry: LedgerEntry): void {
    this.ledger.push(entry);
    this.#ledgerByKey.set(ledgerKey(entry.version, entry.topic, entry.partition), entry);
  }
}
