// The fleet's shared transaction state (docs/transactions.md §fleet): one compacted control topic,
// `<prefix>.transactions`, holding two kinds of record, both read by every member in log order:
// - `id/<transactional id>`: the newest state of the id as its owner wrote it (home cluster, client-facing and
//   upstream producer ids and epochs, coupling). Newest wins. Any member may forward a transactional batch of
//   the id (the partition's leader), so every member must map its pid/epoch exactly as the owner does, and a new
//   owner after a failover continues from it.
// - `seq/<period>/<partition>#<writer>`: the client's base sequence on a partition in a home period that did not
//   start with the client's own InitProducerId (a move between transactions; see transactional-producer.ts). The
//   first record of a base wins, like producer-id mappings: a new leader of the partition after a failover
//   rebases exactly as the first one did. The writer is part of the key so that compaction, which keeps the last
//   record per key, cannot replace the first proposal with a later one.
// - `drained/<move id>/<member>`: the member has drained the open transactions of the ids it owns for a move
//   (transaction-flip-guard.ts): no member holds a moving partition before every member said so, since the data
//   of a transaction still open on its owner flows through the partitions' leaders.
// Values are opaque JSON here; src/transactions/ gives them meaning (this file knows nothing of transactions).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ControlLogPort } from './control-log.ts';
import type { ReadRecord } from './control-records.ts';
import { LogTailer } from './log-tailer.ts';

const STATE = 'id/';
const BASE = 'seq/';
const DRAINED = 'drained/';
/** Moves whose drained records are kept in memory (the newest; a move lasts seconds). */
const KEPT_MOVES = 1_000;

export interface TransactionLogOptions {
  readonly log: ControlLogPort;
  readonly topic: string;
  readonly lane: number;
  readonly logger: Logger;
}

export class FleetTransactionLog {
  /** Names this process's records, so its own writes are not handed back to it as remote updates. */
  readonly writer = `t-${randomUUID()}`;
  readonly #o: TransactionLogOptions;
  readonly #tailer: LogTailer;
  readonly #states = new Map<string, unknown>();
  readonly #bases = new Map<string, number>();
  readonly #proposals = new Map<string, Promise<number>>();
  readonly #listeners = new Set<(id: string, state: unknown) => void>();
  readonly #drained = new Map<string, Set<string>>();
  readonly #drainListeners = new Set<() => void>();

  constructor(options: TransactionLogOptions) {
    this.#o = options;
    this.#tailer = new LogTailer({ log: options.log, topic: options.topic, lane: options.lane, logger: options.logger, maxWaitMs: 100, apply: (r) => this.#apply(r) });
  }

  /** Reads the topic to its end (every id's newest state), then keeps following it. */
  async start(): Promise<void> {
    await this.#tailer.start();
  }

  async stop(): Promise<void> {
    await this.#tailer.stop();
  }

  /** The newest state of every id, as read so far. */
  states(): Map<string, unknown> {
    return new Map(this.#states);
  }

  /** Called for every state record another process wrote (in log order). */
  onRemoteState(listener: (id: string, state: unknown) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Appends an id's state and resolves once this member has read it back (every later reader sees it). */
  async saveState(transactionalId: string, state: unknown): Promise<void> {
    const offset = await this.#o.log.append(this.#o.topic, [{ key: `${STATE}${transactionalId}`, value: JSON.stringify({ w: this.writer, v: state }) }]);
    await this.#tailer.readTo(offset);
  }

  /** The agreed base of `key`, or undefined while none is known here. */
  sequenceBase(key: string): number | undefined {
    return this.#bases.get(key);
  }

  /**
   * Proposes `base` for `key` unless one is known; resolves with the winner (the first record of the key in the
   * log, which may be another member's).
   */
  proposeSequenceBase(key: string, base: number): Promise<number> {
    const known = this.#bases.get(key);
    if (known !== undefined) return Promise.resolve(known);
    let p = this.#proposals.get(key);
    if (p === undefined) {
      p = (async () => {
        const offset = await this.#o.log.append(this.#o.topic, [{ key: `${BASE}${key}#${this.writer}`, value: JSON.stringify({ w: this.writer, v: base }) }]);
        await this.#tailer.readTo(offset);
        return this.#bases.get(key) ?? base;
      })().finally(() => this.#proposals.delete(key));
      this.#proposals.set(key, p);
    }
    return p;
  }

  /** Tells every member that `member` has drained its transactions for `moveId`. */
  async announceDrained(moveId: string, member: string): Promise<void> {
    const offset = await this.#o.log.append(this.#o.topic, [{ key: `${DRAINED}${moveId}/${member}`, value: JSON.stringify({ w: this.writer, v: member }) }]);
    await this.#tailer.readTo(offset);
  }

  /** The members that announced they drained for `moveId`, as read so far. */
  drainedMembers(moveId: string): ReadonlySet<string> {
    return this.#drained.get(moveId) ?? new Set();
  }

  onDrained(listener: () => void): () => void {
    this.#drainListeners.add(listener);
    return () => this.#drainListeners.delete(listener);
  }

  #apply(r: ReadRecord): void {
    if (r.key === null || r.value === null) return;
    const doc = JSON.parse(r.value) as { w?: unknown; v?: unknown };
    if (r.key.startsWith(DRAINED)) {
      const rest = r.key.slice(DRAINED.length);
      const moveId = rest.slice(0, rest.lastIndexOf('/'));
      if (typeof doc.v !== 'string') return;
      let set = this.#drained.get(moveId);
      if (set === undefined) {
        if (this.#drained.size >= KEPT_MOVES) this.#drained.delete(this.#drained.keys().next().value!);
        this.#drained.set(moveId, (set = new Set()));
      }
      set.add(doc.v);
      for (const l of this.#drainListeners) l();
      return;
    }
    if (r.key.startsWith(BASE)) {
      const key = r.key.slice(BASE.length, r.key.lastIndexOf('#'));
      if (!this.#bases.has(key) && typeof doc.v === 'number') this.#bases.set(key, doc.v);
      return;
    }
    if (!r.key.startsWith(STATE)) return;
    const id = r.key.slice(STATE.length);
    this.#states.set(id, doc.v);
    if (doc.w === this.writer) return;
    for (const l of this.#listeners) l(id, doc.v);
  }
}
