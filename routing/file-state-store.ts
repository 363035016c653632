// The embedded state store: an append-only journal in one file (records in journal-codec.ts, parsing and crash
// rules in journal-file.ts, whole-file rewrites in journal-rewrite.ts), compacted in the background.
//
// Why a journal, not a rewrite: the previous store rewrote and fsynced the whole state (routes, audit, ledger)
// inside every hold, so the hold grew with the history (4.1 MB and 55–95 ms after ~110 moves). Now a commit
// appends one "\n"-terminated record of O(change) bytes and fdatasyncs it; the hold no longer depends on how
// many moves came before. (Why not node:sqlite: see routing/README.md.)
//
// - Writes are serialized per file within the process (every FileStateStore on the same path shares one
//   queue), and each write first reads whatever other handles appended, so a compare-and-set commit is checked
//   against the newest state and a stale one is refused (StaleVersionError), never written. Several *processes*
//   on one file are not supported: the fleet shares routes through Kafka, not through this file.
// - Whole rewrites (first write, v1 migration, save(), compaction) go to a temp file in the same directory,
//   fsync, rename over the journal, fsync the directory: a reader or a restart sees the old file or the new one.
// - Compaction folds first-offset updates into their ledger entries and drops superseded producer mappings.
//   The history itself (audit, ledger) is kept. It copies the state outside the write queue (appends continue
//   into the old file meanwhile), then, in the queue, copies the few records appended since and renames; so a
//   hold never waits for a compaction of the whole history.
// - subscribe(): polls the file (size and inode) and hands records written by other handles to the listeners.

import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StateStoreError, UnavailableError, errorMessage } from './errors.ts';
import { encodeHeader, encodeRecord, type JournalRecord } from './journal-codec.ts';
import { applyRecord, isFoldable, journalChunks, parseStateFile, parseTail, toEvent } from './journal-file.ts';
import { emptyJournalHeaderLength, installTemp, isErrno, tempPathFor, writeTemp } from './journal-rewrite.ts';
import type { AuditEntry } from './route-state.ts';
import { SerialQueue } from './serial-queue.ts';
import { StateModel } from './state-model.ts';
import type {
  FirstOffsetUpdate,
  PersistedState,
  ProducerMapping,
  StateCommit,
  StateStore,
  StoreEvent,
  StoreListener,
} from './state-store.ts';
import type { WriteBackUpdate } from './sync-map.ts';

export interface FileStateStoreOptions {
  /** fsync the directory after a rename (default true). Only turn off on filesystems that refuse it. */
  readonly syncDirectory?: boolean;
  /** fdatasync every append (default true). Tests that only count bytes may turn it off. */
  readonly sync?: boolean;
  /** How often subscribe() looks for records written by other handles. Default 250 ms. */
  readonly pollIntervalMs?: number;
  /** Compact once this many bytes of foldable records accumulated. Default 1 MiB. */
  readonly compactAfterBytes?: number;
}

export interface JournalStats {
  readonly appends: number;
  readonly bytesAppended: number;
  readonly compactions: number;
  /** Size of the journal as this handle knows it. */
  readonly fileBytes: number;
}

/** One write queue per file in this process, shared by every handle on it. */
const QUEUES = new Map<string, SerialQueue>();

export class FileStateStore implements StateStore {
  readonly path: string;
  readonly #syncDirectory: boolean;
  readonly #sync: boolean;
  readonly #pollIntervalMs: number;
  readonly #compactAfterBytes: number;
  readonly #queue: SerialQueue;
  readonly #listeners = new Set<StoreListener>();
  #model: StateModel | null = null;
  /** Bytes of complete records the model reflects; the next append goes here. */
  #end = 0;
  /** Inode of the file the model reflects; -1 while there is no file. */
  #ino = -1;
  #fd: FileHandle | null = null;
  /** Bytes after #end (a torn record, a failed write) are cut off before the next append. */
  #truncate = false;
  #foldable = 0;
  #compacting: Promise<void> | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #closed = false;
  #stats = { appends: 0, bytesAppended: 0, compactions: 0 };
  /** The last background compaction's failure, if any (the journal stays valid; compaction retries later). */
  lastCompactionError: Error | null = null;

  constructor(path: string, options: FileStateStoreOptions = {}) {
    this.path = path;
    this.#syncDirectory = options.syncDirectory ?? true;
    this.#sync = options.sync ?? true;
    this.#pollIntervalMs = options.pollIntervalMs ?? 250;
    this.#compactAfterBytes = options.compactAfterBytes ?? 1024 * 1024;
    const key = resolve(path);
    let queue = QUEUES.get(key);
    if (queue === undefined) QUEUES.set(key, (queue = new SerialQueue()));
    this.#queue = queue;
  }

  get stats(): JournalStats {
    return { ...this.#stats, fileBytes: this.#end };
  }

  // ── StateStore ─────────────────────────────────────────────────────────────────────────────────────────────

  async load(): Promise<PersistedState | null> {
    const model = await this.#queue.run(() => this.#reload(false));
    return model.written ? model.toState() : null;
  }

  commit(expectedVersion: number, next: StateCommit): Promise<void> {
    return this.#append({ t: 'commit', expected: expectedVersion, commit: next }, (model) => model.check(expectedVersion, next, this.path));
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.#append({ t: 'audit', entry });
  }

  recordFirstOffsets(updates: readonly FirstOffsetUpdate[]): Promise<void> {
    if (updates.length === 0) return Promise.resolve();
    return this.#append({ t: 'first-offsets', updates });
  }

  appendProducerMapping(mapping: ProducerMapping): Promise<void> {
    return this.#append({ t: 'producer-mapping', mapping });
  }

  appendWriteBack(updates: readonly WriteBackUpdate[]): Promise<void> {
    if (updates.length === 0) return Promise.resolve();
    return this.#append({ t: 'write-back', updates });
  }

  async loadWriteBack(): Promise<readonly WriteBackUpdate[]> {
    const model = await this.#queue.run(async () => {
      await this.#catchUp();
      return this.#model as StateModel;
    });
    return model.writeBack.toUpdates();
  }

  async loadProducerMappings(): Promise<readonly ProducerMapping[]> {
    const model = await this.#queue.run(async () => {
      await this.#catchUp();
      return this.#model as StateModel;
    });
    return [...model.mappings.values()];
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    if (this.#timer === null && !this.#closed) {
      this.#timer = setInterval(() => {
        if (this.#model === null || this.#closed) return;
        this.#queue.run(() => this.#catchUp()).catch(() => undefined); // retried on the next tick
      }, this.#pollIntervalMs);
      this.#timer.unref();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopPolling();
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopPolling();
    await this.#compacting?.catch(() => undefined);
    await this.#queue.run(async () => {
      await this.#fd?.close();
      this.#fd = null;
    });
  }

  // ── beyond the interface ───────────────────────────────────────────────────────────────────────────────────

  /** Replaces the whole state (imports, tests). Atomic: a crash leaves the old file or the new one. */
  save(state: PersistedState): Promise<void> {
    const model = StateModel.from(state);
    return this.#queue.run(async () => {
      this.#checkOpen();
      await this.#replaceWith(model, [...journalChunks(model, model, model.audit.length, model.ledger.length, [...model.mappings.values()], model.writeBack.toUpdates())]);
    });
  }

  /** Rewrites the journal without its foldable records. Runs beside appends (see the header). */
  compact(): Promise<void> {
    this.#compacting ??= this.#compact().finally(() => (this.#compacting = null));
    return this.#compacting;
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────────────────

  #checkOpen(): void {
    if (this.#closed) throw new UnavailableError(`the route state store ${this.path} is closed`);
  }

  #stopPolling(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #append(record: JournalRecord, check?: (model: StateModel) => void): Promise<void> {
    return this.#queue.run(async () => {
      this.#checkOpen();
      await this.#catchUp();
      const model = this.#model as StateModel;
      check?.(model);
      const bytes = Buffer.from(encodeRecord(record), 'utf8');
      const fd = await this.#appendHandle();
      try {
        if (this.#truncate) {
          await fd.truncate(this.#end);
          this.#truncate = false;
        }
        await fd.write(bytes, 0, bytes.length, this.#end);
        if (this.#sync) await fd.datasync();
      } catch (error) {
        this.#truncate = true;
        throw new StateStoreError(`cannot save route state to ${this.path}: ${errorMessage(error)}`, { cause: error });
      }
      if (isFoldable(model, record)) this.#foldable += bytes.length;
      applyRecord(model, record, `route state ${this.path}`);
      this.#end += bytes.length;
      this.#stats.appends += 1;
      this.#stats.bytesAppended += bytes.length;
      if (this.#foldable >= this.#compactAfterBytes && this.#compacting === null) {
        this.compact().catch((error: unknown) => (this.lastCompactionError = error instanceof Error ? error : new Error(String(error))));
      }
    });
  }

  /** Reads the file into a fresh model (a missing file is an empty one). `announce`: tell subscribers (reset). */
  async #reload(announce: boolean): Promise<StateModel> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw new StateStoreError(`cannot read route state ${this.path}: ${errorMessage(error)}`, { cause: error });
      this.#adopt(new StateModel(), -1, 0, 0);
      return this.#model as StateModel;
    }
    let buffer: Buffer;
    let ino: number;
    try {
      ino = (await handle.stat()).ino;
      buffer = await handle.readFile();
    } catch (error) {
      throw new StateStoreError(`cannot read route state ${this.path}: ${errorMessage(error)}`, { cause: error });
    } finally {
      await handle.close();
    }
    const parsed = parseStateFile(buffer, this.path);
    if (parsed.migratedFromV1) {
      // First start on a v1 document: write it as a journal now, so every later write is an append.
      await this.#replaceWith(parsed.model, [...journalChunks(parsed.model, parsed.model, parsed.model.audit.length, parsed.model.ledger.length, [], parsed.model.writeBack.toUpdates())]);
    } else {
      this.#adopt(parsed.model, ino, parsed.end, parsed.foldableBytes);
      this.#truncate = parsed.tornBytes > 0;
    }
    if (announce) this.#emit({ type: 'reset', state: (this.#model as StateModel).toState() });
    return this.#model as StateModel;
  }

  #adopt(model: StateModel, ino: number, end: number, foldable: number): void {
    this.#model = model;
    this.#ino = ino;
    this.#end = end;
    this.#foldable = foldable;
    this.#truncate = false;
    void this.#fd?.close().catch(() => undefined);
    this.#fd = null;
  }

  /** Brings the model up to date with what other handles wrote, telling subscribers. In the queue. */
  async #catchUp(): Promise<void> {
    if (this.#model === null) {
      await this.#reload(false);
      return;
    }
    let info;
    try {
      info = await stat(this.path);
    } catch (error) {
      if (isErrno(error, 'ENOENT') && this.#ino === -1) return;
      throw new StateStoreError(`cannot read route state ${this.path}: ${errorMessage(error)}`, { cause: error });
    }
    if (info.ino !== this.#ino && !(this.#ino === -1 && (await this.#followCreatedJournal(info.ino)))) {
      await this.#reload(true); // replaced (compacted or restored by another handle)
      return;
    }
    if (info.size <= this.#end) return;
    const fd = await this.#appendHandle();
    const length = info.size - this.#end;
    const buffer = Buffer.alloc(length);
    await fd.read(buffer, 0, length, this.#end);
    const { records, consumed } = parseTail(buffer, `${this.path} (records after byte ${this.#end})`, 1);
    const model = this.#model;
    for (const { record, size } of records) {
      if (isFoldable(model, record)) this.#foldable += size;
      applyRecord(model, record, `route state ${this.path}`);
      this.#end += size;
      const event = toEvent(record);
      if (event !== null) this.#emit(event);
    }
    // An unfinished record after them is a write cut short (in this process every write holds the queue).
    if (consumed < length) this.#truncate = true;
  }

  /**
   * The file did not exist and another handle created it: if it starts from the empty state this handle has,
   * follow it from its header, so subscribers get its records one by one (not a reset).
   */
  async #followCreatedJournal(ino: number): Promise<boolean> {
    const model = this.#model as StateModel;
    if (model.written) return false;
    const headerLength = await emptyJournalHeaderLength(this.path, ino);
    if (headerLength === null) return false;
    this.#adopt(model, ino, headerLength, 0);
    return true;
  }

  #emit(event: StoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A subscriber's bug must not break the store.
      }
    }
  }

  /** The handle appends go through; creates the journal (header only) on the first write. */
  async #appendHandle(): Promise<FileHandle> {
    if (this.#fd !== null) return this.#fd;
    if (this.#ino === -1) await this.#replaceWith(this.#model ?? new StateModel(), [encodeHeader(this.#model ?? new StateModel())]);
    try {
      this.#fd = await open(this.path, 'r+');
    } catch (error) {
      throw new StateStoreError(`cannot open route state ${this.path}: ${errorMessage(error)}`, { cause: error });
    }
    return this.#fd;
  }

  /** Writes a whole new journal for `model` and renames it over the file. In the queue. */
  async #replaceWith(model: StateModel, chunks: readonly string[]): Promise<void> {
    const temp = await writeTemp(this.path, chunks);
    await installTemp(this.path, temp.path, this.#syncDirectory);
    model.written = true;
    this.#adopt(model, (await stat(this.path)).ino, temp.bytes, 0);
  }

  async #compact(): Promise<void> {
    // 1 in the queue: what to copy (the history only grows, so counts are enough).
    const capture = await this.#queue.run(async () => {
      this.#checkOpen();
      await this.#catchUp();
      const model = this.#model as StateModel;
      const routes = new StateModel();
      routes.setRoutes(model.version, model.batches, model.topics);
      return { model, routes, end: this.#end, ino: this.#ino, audit: model.audit.length, ledger: model.ledger.length, mappings: [...model.mappings.values()], writeBack: model.writeBack.toUpdates() };
    });
    if (capture.ino === -1) return;
    // 2 outside the queue: write the copy while commits keep appending to the live file. A ledger entry may
    // carry a first offset recorded after the capture; the record replayed from the tail sets the same value.
    const chunks = journalChunks(capture.routes, capture.model, capture.audit, capture.ledger, capture.mappings, capture.writeBack);
    const temp = tempPathFor(this.path);
    let handle: FileHandle | null = null;
    try {
      handle = await open(temp, 'wx', 0o600);
      let bytes = 0;
      for (const chunk of chunks) {
        const buffer = Buffer.from(chunk, 'utf8');
        await handle.write(buffer, 0, buffer.length, bytes);
        bytes += buffer.length;
      }
      const copied = bytes;
      // 3 in the queue: append the records written since the capture, then swap the files.
      await this.#queue.run(async () => {
        this.#checkOpen();
        await this.#catchUp();
        if (this.#ino !== capture.ino) throw new Error('the journal was replaced during the compaction');
        const since = this.#end - capture.end;
        if (since > 0) {
          const buffer = Buffer.alloc(since);
          await (await this.#appendHandle()).read(buffer, 0, since, capture.end);
          await (handle as FileHandle).write(buffer, 0, since, copied);
        }
        await (handle as FileHandle).sync();
        await (handle as FileHandle).close();
        handle = null;
        await installTemp(this.path, temp, this.#syncDirectory);
        this.#adopt(this.#model as StateModel, (await stat(this.path)).ino, copied + since, 0);
        this.#stats.compactions += 1;
      });
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error instanceof StateStoreError ? error : new StateStoreError(`cannot compact route state ${this.path}: ${errorMessage(error)}`, { cause: error });
    }
  }
}
