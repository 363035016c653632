// The fleet's StateStore: the route table, audit and ledger as one ordered log in a single-partition Kafka topic
// (`<prefix>.routes`), producer-id mappings in a compacted topic (`<prefix>.producer-ids`). Records are the
// journal's records (routing/journal-codec.ts), one per Kafka record.
//
// Compare-and-set on a log: a commit record carries the version it was made from. Every member applies the log
// in order and skips a commit whose expected version is not the version at that point, so all members agree on
// which commit won without talking to each other. A writer appends its record and reads the log up to that
// record's offset: if it was applied the commit succeeded, if it was skipped the writer lost (409, nothing was
// switched anywhere). A retried append that lands twice is skipped the second time for the same reason.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { StaleVersionError, StateStoreError, errorMessage } from '../../routing/errors.ts';
import { decodeRecord, encodeRecord, type JournalRecord } from '../../routing/journal-codec.ts';
import type { AuditEntry } from '../../routing/route-state.ts';
import { StateModel } from '../../routing/state-model.ts';
import { MoveDecisions, type MoveDecision } from '../../routing/fleet/move-decisions.ts';
import {
  producerMappingKey,
  type FirstOffsetUpdate,
  type PersistedState,
  type ProducerMapping,
  type StateCommit,
  type StateStore,
  type StoreEvent,
  type StoreListener,
} from '../../routing/state-store.ts';
import type { ControlLogPort } from './control-log.ts';
import type { ReadRecord } from './control-records.ts';
import { LogTailer } from './log-tailer.ts';

export interface KafkaStateStoreOptions {
  readonly log: ControlLogPort;
  readonly routesTopic: string;
  readonly producerIdsTopic: string;
  readonly logger: Logger;
  /** Connection lanes for the two tailers' long polls. */
  readonly lanes: readonly [number, number];
}

type Outcome =
  | { readonly applied: true }
  | { readonly applied: false; readonly actualVersion: number; readonly abortedMove?: string }
  | { readonly decision: MoveDecision };

export class KafkaStateStore implements StateStore {
  /** Names this handle's records (key prefix), so its own writes are not echoed to its subscribers. */
  readonly writer = `w-${randomUUID()}`;
  readonly #o: KafkaStateStoreOptions;
  readonly #model = new StateModel();
  readonly #routes: LogTailer;
  readonly #mappings: LogTailer;
  readonly #listeners = new Set<StoreListener>();
  readonly #outcomes = new Map<string, Outcome>();
  /** Which moves the route log committed or aborted (a commit of an aborted move is skipped by every member). */
  readonly #decisions = new MoveDecisions();
  /** Mappings by (client pid, epoch, cluster): the upstream pids a client wrote under on a cluster (new-route-concern.ts). */
  readonly #byClient = new Map<string, ProducerMapping[]>();
  #seq = 0;
  #started: Promise<void> | null = null;

  constructor(options: KafkaStateStoreOptions) {
    this.#o = options;
    this.#routes = new LogTailer({ log: options.log, topic: options.routesTopic, lane: options.lanes[0], logger: options.logger, apply: (r) => this.#applyRoute(r) });
    this.#mappings = new LogTailer({ log: options.log, topic: options.producerIdsTopic, lane: options.lanes[1], logger: options.logger, apply: (r) => this.#applyMapping(r) });
  }

  /** The routes log's tailer (the fleet reads it to its end before a fenced member resumes). */
  get routesTailer(): LogTailer {
    return this.#routes;
  }

  /** The table version this member has applied from the log. */
  get appliedVersion(): number {
    return this.#model.version;
  }

  /** A mapping every member can see (first one written wins), or undefined. */
  mapping(key: string): ProducerMapping | undefined {
    return this.#model.mappings.get(key);
  }

  /** Every upstream producer the fleet mapped (client pid, epoch) to on `cluster`, any generation. */
  mappingsOfClient(clientProducerId: bigint, clientEpoch: number, cluster: string): readonly ProducerMapping[] {
    return this.#byClient.get(`${clientProducerId}/${clientEpoch}/${cluster}`) ?? [];
  }

  async load(): Promise<PersistedState | null> {
    this.#started ??= Promise.all([this.#routes.start(), this.#mappings.start()]).then(() => undefined);
    try {
      await this.#started;
    } catch (error) {
      this.#started = null;
      throw new StateStoreError(`cannot read the route log ${this.#o.routesTopic}: ${errorMessage(error)}`, { cause: error });
    }
    return this.#model.written ? this.#model.toState() : null;
  }

  async commit(expectedVersion: number, next: StateCommit): Promise<void> {
    // Refuse early what is already stale here; the log decides for everything else.
    this.#model.check(expectedVersion, next, `the route log ${this.#o.routesTopic}`);
    const key = await this.#append(this.#o.routesTopic, this.#routes, { t: 'commit', expected: expectedVersion, commit: next });
    const outcome = this.#outcomes.get(key);
    this.#outcomes.delete(key);
    if (outcome === undefined || 'decision' in outcome) throw new StateStoreError(`the route log did not return this commit (record ${key})`);
    if (!outcome.applied && outcome.abortedMove !== undefined) {
      throw new StateStoreError(`the move ${outcome.abortedMove} was aborted by another instance (its coordinator counted gone) before this commit landed; nothing was switched`);
    }
    if (!outcome.applied) {
      throw new StaleVersionError(
        `the routes changed elsewhere: this change was based on version ${expectedVersion} but another instance committed version ${outcome.actualVersion} first; ` +
          'nothing was switched. Read the routes again (GET /v1/routes) and retry',
        expectedVersion,
        outcome.actualVersion,
      );
    }
  }

  /** Aborts a move in the route log unless it committed first; every member reads the same decision. */
  async abortMove(moveId: string, by: string): Promise<MoveDecision> {
    const known = this.#decisions.decision(moveId);
    if (known !== null) return known;
    const key = await this.#append(this.#o.routesTopic, this.#routes, { t: 'move-aborted', moveId, by });
    const outcome = this.#outcomes.get(key);
    this.#outcomes.delete(key);
    if (outcome === undefined || !('decision' in outcome)) throw new StateStoreError(`the route log did not return this abort (record ${key})`);
    return outcome.decision;
  }

  /** The decision the route log holds for a move (read so far), or null. */
  decisionOf(moveId: string): MoveDecision | null {
    return this.#decisions.decision(moveId);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#append(this.#o.routesTopic, this.#routes, { t: 'audit', entry });
  }

  async recordFirstOffsets(updates: readonly FirstOffsetUpdate[]): Promise<void> {
    if (updates.length > 0) await this.#append(this.#o.routesTopic, this.#routes, { t: 'first-offsets', updates });
  }

  async appendProducerMapping(mapping: ProducerMapping): Promise<void> {
    await this.#append(this.#o.producerIdsTopic, this.#mappings, { t: 'producer-mapping', mapping }, producerMappingKey(mapping));
  }

  async loadProducerMappings(): Promise<readonly ProducerMapping[]> {
    return [...this.#model.mappings.values()];
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    await Promise.all([this.#routes.stop(), this.#mappings.stop()]);
  }

  /** Appends one record and reads the log up to it; resolves with the record's key. */
  async #append(topic: string, tailer: LogTailer, record: JournalRecord, compactionKey?: string): Promise<string> {
    const own = `${this.writer}/${++this.#seq}`;
    // Compacted topics are keyed by what they hold; the writer rides in the value's envelope there.
    const key = compactionKey ?? own;
    const value = JSON.stringify({ w: own, r: JSON.parse(encodeRecord(record)) });
    let offset: bigint;
    try {
      offset = await this.#o.log.append(topic, [{ key, value }]);
    } catch (error) {
      throw new StateStoreError(`cannot write to ${topic}: ${errorMessage(error)}`, { cause: error });
    }
    await tailer.readTo(offset);
    return own;
  }

  #decode(r: ReadRecord, topic: string): { writer: string; record: JournalRecord } | null {
    if (r.value === null) return null;
    const doc = JSON.parse(r.value) as { w?: unknown; r?: unknown };
    const writer = typeof doc.w === 'string' ? doc.w : '';
    return { writer, record: decodeRecord(JSON.stringify(doc.r), `${topic}@${r.offset}`, Number(r.offset)) };
  }

  #emit(writer: string, event: StoreEvent): void {
    if (writer.startsWith(`${this.writer}/`)) return; // a store never echoes its own writes
    for (const l of this.#listeners) l(event);
  }

  #applyRoute(r: ReadRecord): void {
    const decoded = this.#decode(r, this.#o.routesTopic);
    if (decoded === null) return;
    const { writer, record } = decoded;
    switch (record.t) {
      case 'commit': {
        const moveId = record.commit.moveId;
        const aborted = !this.#decisions.commitApplies(moveId);
        const applies = !aborted && record.expected === this.#model.version && record.commit.version === record.expected + 1;
        if (writer.startsWith(`${this.writer}/`)) {
          this.#outcomes.set(writer, applies ? { applied: true } : { applied: false, actualVersion: this.#model.version, ...(aborted && moveId !== undefined ? { abortedMove: moveId } : {}) });
        }
        if (!applies) return; // lost the compare-and-set, or its move was aborted first: every member skips it
        if (moveId !== undefined) this.#decisions.noteCommit(moveId, { version: record.commit.version, changes: record.commit.changes });
        this.#model.applyCommit(record.commit);
        this.#emit(writer, { type: 'commit', expectedVersion: record.expected, commit: record.commit });
        return;
      }
      case 'audit':
        this.#model.appendAudit(record.entry);
        this.#emit(writer, { type: 'audit', entry: record.entry });
        return;
      case 'first-offsets':
        this.#model.applyFirstOffsets(record.updates);
        this.#emit(writer, { type: 'first-offsets', updates: record.updates });
        return;
      case 'ledger':
        this.#model.appendLedger(record.entry);
        return;
      case 'move-aborted': {
        const decision = this.#decisions.noteAbort(record.moveId);
        if (writer.startsWith(`${this.writer}/`)) this.#outcomes.set(writer, { decision });
        return;
      }
      case 'producer-mapping':
        return; // mappings live in their own topic
    }
  }

  #applyMapping(r: ReadRecord): void {
    const decoded = this.#decode(r, this.#o.producerIdsTopic);
    if (decoded === null || decoded.record.t !== 'producer-mapping') return;
    const mapping = decoded.record.mapping;
    // The first mapping of a key wins on every member (two instances may allocate for one key at a handover).
    if (this.#model.mappings.has(producerMappingKey(mapping))) return;
    this.#model.addMapping(mapping);
    const byClient = `${mapping.clientProducerId}/${mapping.clientEpoch}/${mapping.cluster}`;
    this.#byClient.set(byClient, [...(this.#byClient.get(byClient) ?? []), mapping]);
    this.#emit(decoded.writer, { type: 'producer-mapping', mapping });
  }
}
