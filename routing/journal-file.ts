// Reading a route-state file: the v2 journal (journal-codec.ts), or a v1 JSON document to migrate. Pure parsing
// of bytes into a StateModel, kept apart from the store's file handling (file-state-store.ts).
//
// Crash safety: appends are "\n"-terminated records. A crash can cut the last record short: a last line without
// its newline, or a last line that is not JSON, is a write that was never acknowledged and is ignored (the
// store cuts it off before its next append). Anything else unreadable — the header, a record in the middle, a
// record that parses but does not validate — is corruption and an error: starting from defaults would silently
// move every flipped batch back to the source.

import { StateStoreError } from './errors.ts';
import { decodeHeader, decodeRecord, encodeHeader, encodeRecord, type JournalRecord } from './journal-codec.ts';
import { decodeState } from './state-codec.ts';
import { StateModel } from './state-model.ts';
import { producerMappingKey, type ProducerMapping, type StoreEvent } from './state-store.ts';
import type { WriteBackUpdate } from './sync-map.ts';

const NEWLINE = 0x0a;
const CHUNK_BYTES = 256 * 1024;

export interface ParsedJournal {
  readonly model: StateModel;
  /** Bytes of complete records (where the next append goes). */
  readonly end: number;
  /** Bytes after `end` that were ignored (a torn last record). */
  readonly tornBytes: number;
  /** Bytes of records a compaction would fold (first offsets, superseded mappings). */
  readonly foldableBytes: number;
  /** The file was a v1 document: write it as a journal before appending. */
  readonly migratedFromV1: boolean;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

export function parseStateFile(buffer: Buffer, origin: string): ParsedJournal {
  const firstNewline = buffer.indexOf(NEWLINE);
  const head = parseJson(buffer.subarray(0, firstNewline === -1 ? buffer.length : firstNewline).toString('utf8'));
  const format = head.ok && typeof head.value === 'object' && head.value !== null ? (head.value as { format?: unknown }).format : undefined;
  if (!head.ok || format === 1 || format === undefined) {
    // A v1 document (pretty-printed: its first line is "{"), or not a state file at all: decodeState says which.
    const state = decodeState(buffer.toString('utf8'), origin);
    return { model: StateModel.from(state), end: 0, tornBytes: 0, foldableBytes: 0, migratedFromV1: true };
  }
  const header = decodeHeader(head.value, origin);
  if (firstNewline === -1) throw new StateStoreError(`route state ${origin} is invalid: line 1 is incomplete`);
  const model = new StateModel();
  model.setRoutes(header.version, header.batches, header.topics);
  let foldable = 0;
  let pos = firstNewline + 1;
  let line = 2;
  while (pos < buffer.length) {
    const newline = buffer.indexOf(NEWLINE, pos);
    const last = newline === -1 || newline === buffer.length - 1;
    if (newline === -1) break; // torn: the write of this record was cut short
    const text = buffer.subarray(pos, newline).toString('utf8');
    if (last && !parseJson(text).ok) break; // torn: complete length, garbled bytes (never acknowledged)
    const record = decodeRecord(text, origin, line);
    const size = newline + 1 - pos;
    if (isFoldable(model, record)) foldable += size;
    applyRecord(model, record, `route state ${origin} line ${line}`);
    pos = newline + 1;
    line += 1;
  }
  return { model, end: pos, tornBytes: buffer.length - pos, foldableBytes: foldable, migratedFromV1: false };
}

/** Records that compaction folds into what they change (they add no history of their own). */
export function isFoldable(model: StateModel, record: JournalRecord): boolean {
  return record.t === 'first-offsets' || record.t === 'write-back' || (record.t === 'producer-mapping' && model.mappings.has(producerMappingKey(record.mapping)));
}

/** `where` names the record in errors ("route state x.json line 12"). */
export function applyRecord(model: StateModel, record: JournalRecord, where: string): void {
  switch (record.t) {
    case 'commit':
      if (record.expected !== model.version || record.commit.version !== record.expected + 1) {
        throw new StateStoreError(
          `${where} is invalid: a commit from version ${record.expected} to ${record.commit.version} follows version ${model.version}`,
        );
      }
      model.applyCommit(record.commit);
      return;
    case 'audit':
      model.appendAudit(record.entry);
      return;
    case 'ledger':
      model.appendLedger(record.entry);
      return;
    case 'first-offsets':
      model.applyFirstOffsets(record.updates);
      return;
    case 'producer-mapping':
      model.addMapping(record.mapping);
      return;
    case 'write-back':
      for (const u of record.updates) model.writeBack.apply(u);
      model.written = true;
      return;
    case 'move-aborted':
      return; // a fleet's route log only (src/fleet/kafka-state-store.ts); a journal file never has one
  }
}

/** Splits freshly read bytes (after the known end) into complete records; `consumed` excludes an unfinished tail. */
export function parseTail(buffer: Buffer, origin: string, firstLine: number): { records: { record: JournalRecord; size: number }[]; consumed: number } {
  const records: { record: JournalRecord; size: number }[] = [];
  let pos = 0;
  let line = firstLine;
  for (;;) {
    const newline = buffer.indexOf(NEWLINE, pos);
    if (newline === -1) break;
    records.push({ record: decodeRecord(buffer.subarray(pos, newline).toString('utf8'), origin, line), size: newline + 1 - pos });
    pos = newline + 1;
    line += 1;
  }
  return { records, consumed: pos };
}

/** A journal: the routes' header, the first `audit`/`ledger` history entries as they stand, the mappings; in chunks. */
export function* journalChunks(
  routes: StateModel,
  model: StateModel,
  audit: number,
  ledger: number,
  mappings: readonly ProducerMapping[],
  writeBack: readonly WriteBackUpdate[] = [],
): Generator<string> {
  let chunk = encodeHeader(routes);
  for (let i = 0; i < audit; i++) {
    chunk += encodeRecord({ t: 'audit', entry: model.audit[i] });
    if (chunk.length >= CHUNK_BYTES) yield chunk, (chunk = '');
  }
  for (let i = 0; i < ledger; i++) {
    chunk += encodeRecord({ t: 'ledger', entry: model.ledger[i] });
    if (chunk.length >= CHUNK_BYTES) yield chunk, (chunk = '');
  }
  for (const mapping of mappings) chunk += encodeRecord({ t: 'producer-mapping', mapping });
  // Folded write-back state: one record per partition (its merged sync-map runs), so it does not grow per batch.
  for (const update of writeBack) {
    chunk += encodeRecord({ t: 'write-back', updates: [update] });
    if (chunk.length >= CHUNK_BYTES) yield chunk, (chunk = '');
  }
  if (chunk.length > 0) yield chunk;
}

/** What subscribers hear about a record another handle appended. */
export function toEvent(record: JournalRecord): StoreEvent | null {
  switch (record.t) {
    case 'commit':
      return { type: 'commit', expectedVersion: record.expected, commit: record.commit };
    case 'audit':
      return { type: 'audit', entry: record.entry };
    case 'first-offsets':
      return { type: 'first-offsets', updates: record.updates };
    case 'producer-mapping':
      return { type: 'producer-mapping', mapping: record.mapping };
    case 'write-back':
      return null; // read at start only (loadWriteBack); one writer per partition
    case 'ledger':
      return null; // only compaction writes these, into a new file (subscribers get a reset)
    case 'move-aborted':
      return null;
  }
}
