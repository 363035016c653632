// Where route state lives between restarts, and how several writers share it. The control plane depends only on
// the StateStore interface, so the embedded journal (file-state-store.ts) can be replaced by a distributed store
// (a compacted Kafka topic shared by a fleet of proxies) without touching the routing logic.
//
// Writes are O(change): a commit carries the route changes of one version plus the audit and ledger entries it
// adds, never the whole state, so its cost does not grow with the history. Every write kind is a small record
// that a log (a journal file, a Kafka topic) can append and a later compaction can fold.
//
// - commit(expectedVersion, next): compare-and-set. If the stored version is not `expectedVersion` the commit is
//   refused with StaleVersionError (409) and nothing is written: a stale writer can never overwrite a newer route.
// - subscribe(listener): changes written by anyone else (another instance, another handle on the same file)
//   reach this process, so its switch table and history follow them. A store never echoes its own writes.

import type { Cluster } from './cluster.ts';
import type { AuditEntry, LedgerEntry, RouteChange, RouteState } from './route-state.ts';
import type { WriteBackUpdate } from './sync-map.ts';
import type { MoveDecision } from './fleet/move-decisions.ts';

export { STATE_FORMAT, decodeState, encodeState, ledgerEntryToJson } from './state-codec.ts';
export { MemoryStateStore } from './memory-state-store.ts';

/** What a store loads at start: the whole route state (routes, audit, ledger). */
export type PersistedState = RouteState;

/** One version's worth of change: what a move or a promote commits. */
export interface StateCommit {
  /** The new table version: always expectedVersion + 1. */
  readonly version: number;
  readonly changes: readonly RouteChange[];
  readonly audit: readonly AuditEntry[];
  readonly ledger: readonly LedgerEntry[];
  /**
   * The move this version commits (fleet: a commit of a move that the route log already aborted is skipped by
   * every member, routing/fleet/move-decisions.ts). Absent for a change without a move.
   */
  readonly moveId?: string;
}

/** The first offset written to the new cluster after a move, for the ledger entry (version, topic, partition). */
export interface FirstOffsetUpdate {
  readonly version: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/**
 * Which upstream producer id (and epoch) the proxy issued for a client's producer id on one cluster in one route
 * generation. Persisted so a restarted kmp reuses the same upstream pid (the broker then keeps deduplicating the
 * client's retries). Written once per mapping; the key is (clientProducerId, clientEpoch, cluster, generation).
 */
export interface ProducerMapping {
  readonly clientProducerId: bigint;
  readonly clientEpoch: number;
  readonly cluster: Cluster;
  readonly generation: number;
  readonly upstreamProducerId: bigint;
  readonly upstreamEpoch: number;
}

/** The compaction key of a mapping (also the record key if the fleet puts mappings in a compacted topic). */
export function producerMappingKey(m: Pick<ProducerMapping, 'clientProducerId' | 'clientEpoch' | 'cluster' | 'generation'>): string {
  return `${m.clientProducerId}/${m.clientEpoch}/${m.cluster}/${m.generation}`;
}

/** A change written by someone else, as delivered to subscribers. */
export type StoreEvent =
  | { readonly type: 'commit'; readonly expectedVersion: number; readonly commit: StateCommit }
  | { readonly type: 'audit'; readonly entry: AuditEntry }
  | { readonly type: 'first-offsets'; readonly updates: readonly FirstOffsetUpdate[] }
  | { readonly type: 'producer-mapping'; readonly mapping: ProducerMapping }
  /** The store was replaced wholesale (compacted or restored elsewhere): take this state as the new truth. */
  | { readonly type: 'reset'; readonly state: PersistedState };

export type StoreListener = (event: StoreEvent) => void;

export interface StateStore {
  /** The stored state, or null if nothing was ever written. Throws StateStoreError if it cannot be read. */
  load(): Promise<PersistedState | null>;
  /**
   * Durably commits one version (compare-and-set). Resolves once a crash or restart would load it; rejects with
   * StaleVersionError if the stored version is not `expectedVersion` (nothing is written then), StateStoreError
   * if it cannot write.
   */
  commit(expectedVersion: number, next: StateCommit): Promise<void>;
  /** Appends an audit entry that changes no route (refused and aborted operations). */
  appendAudit(entry: AuditEntry): Promise<void>;
  /** Fills in ledger entries' firstOffsetOnNew (the lowest offset reported wins; repeating one is harmless). */
  recordFirstOffsets(updates: readonly FirstOffsetUpdate[]): Promise<void>;
  /** Persists one producer-id mapping (see ProducerMapping). */
  appendProducerMapping(mapping: ProducerMapping): Promise<void>;
  /** Every mapping stored, once per key; read at start. */
  loadProducerMappings(): Promise<readonly ProducerMapping[]>;
  /**
   * Fleet stores: records that `moveId` is aborted unless the route log committed it first, and answers which of
   * the two the log decided (routing/fleet/move-decisions.ts). Used when a move's coordinator died mid-move.
   */
  abortMove?(moveId: string, by: string): Promise<MoveDecision>;
  /**
   * Persists write-back progress and sync-map entries (routing/sync-map.ts): O(change) records, folded on
   * compaction. Optional: a store without it keeps write-back state in memory only (src/writeback then recovers
   * from the clusters alone after a restart).
   */
  appendWriteBack?(updates: readonly WriteBackUpdate[]): Promise<void>;
  /** Every partition's write-back state, folded (one update per partition); read at start. */
  loadWriteBack?(): Promise<readonly WriteBackUpdate[]>;
  /** Changes made by other writers; returns the unsubscribe function. */
  subscribe(listener: StoreListener): () => void;
  /** Stops background work (polling, compaction) and releases files. */
  close(): Promise<void>;
}

/**
 * The pre-journal store shape: the whole state saved at once. Still accepted by createControlPlane (wrapped by
 * snapshot-store-adapter.ts, which re-saves everything per write), e.g. for small custom stores in tests.
 */
export interface SnapshotStateStore {
  load(): Promise<PersistedState | null>;
  save(state: PersistedState): Promise<void>;
}

export function isStateStore(store: StateStore | SnapshotStateStore): store is StateStore {
  return typeof (store as Partial<StateStore>).commit === 'function';
}
