// The records of the route journal (file-state-store.ts): one JSON object per line, "\n"-terminated.
//
//   line 1   {"format":2,"version":V,"batches":[…],"topics":[…]}          the routes when the file was written
//   then     {"t":"commit","expected":V,"version":V+1,"changes":[…],"audit":[…],"ledger":[…]}
//            {"t":"audit","entry":{…}}                                      a refused/aborted operation
//            {"t":"ledger","entry":{…}}                                     (compacted files: history as it stands)
//            {"t":"first-offsets","updates":[{"version","topic","partition","offset"}]}
//            {"t":"producer-mapping","mapping":{…}}
//            {"t":"write-back","updates":[{"progress":{…},"entries":[[source,target,count],…],"segments"?:[…]}]}
//
// Every record is what one write changes, so appending it costs O(change). Audit and ledger entries use the
// v1 document's schemas (state-codec.ts): offsets and producer ids as decimal strings, names in arrays.

import { z } from 'zod';
import { StateStoreError } from './errors.ts';
import type { AuditEntry, LedgerEntry, RouteChange } from './route-state.ts';
import { auditSchema, clusterSchema, ledgerEntryToJson, ledgerSchema, namedState, stateName } from './state-codec.ts';
import type { FirstOffsetUpdate, ProducerMapping, StateCommit } from './state-store.ts';
import type { WriteBackUpdate } from './sync-map.ts';
import type { RouteStateName } from './cluster.ts';
import { formatZodIssues } from './rules.ts';

export const JOURNAL_FORMAT = 2;

const int64 = z
  .string()
  .regex(/^-?\d{1,19}$/, 'must be a decimal int64')
  .transform((s) => BigInt(s));

const changeSchema = z.object({ kind: z.enum(['batch', 'topic']), name: z.string(), before: stateName.nullable(), after: stateName.nullable() });

const headerSchema = z.object({
  format: z.literal(JOURNAL_FORMAT),
  version: z.number().int().nonnegative(),
  batches: z.array(namedState),
  topics: z.array(namedState),
});

const mappingSchema = z.object({
  clientProducerId: int64,
  clientEpoch: z.number().int(),
  cluster: clusterSchema,
  generation: z.number().int().nonnegative(),
  upstreamProducerId: int64,
  upstreamEpoch: z.number().int(),
});

const writeBackUpdateSchema = z.object({
  progress: z.object({
    topic: z.string(),
    partition: z.number().int().nonnegative(),
    producerId: int64,
    producerEpoch: z.number().int(),
    nextSequence: z.number().int().nonnegative(),
    nextTargetOffset: int64,
    nextSourceOffset: int64,
    segmentStart: int64.nullable(),
  }),
  entries: z.array(z.tuple([int64, int64, z.number().int().positive()])),
  segments: z.array(int64).optional(),
});

function writeBackUpdateToJson(u: WriteBackUpdate): unknown {
  const p = u.progress;
  return {
    progress: {
      ...p,
      producerId: p.producerId.toString(),
      nextTargetOffset: p.nextTargetOffset.toString(),
      nextSourceOffset: p.nextSourceOffset.toString(),
      segmentStart: p.segmentStart === null ? null : p.segmentStart.toString(),
    },
    entries: u.entries.map((e) => [e.sourceOffset.toString(), e.targetOffset.toString(), e.count]),
    ...(u.segments !== undefined ? { segments: u.segments.map(String) } : {}),
  };
}

const recordSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('commit'),
    expected: z.number().int().nonnegative(),
    version: z.number().int().positive(),
    changes: z.array(changeSchema),
    audit: z.array(auditSchema),
    ledger: z.array(ledgerSchema),
    moveId: z.string().optional(),
  }),
  z.object({ t: z.literal('move-aborted'), moveId: z.string(), by: z.string() }),
  z.object({ t: z.literal('audit'), entry: auditSchema }),
  z.object({ t: z.literal('ledger'), entry: ledgerSchema }),
  z.object({
    t: z.literal('first-offsets'),
    updates: z.array(z.object({ version: z.number().int().nonnegative(), topic: z.string(), partition: z.number().int().nonnegative(), offset: int64 })),
  }),
  z.object({ t: z.literal('producer-mapping'), mapping: mappingSchema }),
  z.object({ t: z.literal('write-back'), updates: z.array(writeBackUpdateSchema) }),
]);

export interface JournalHeader {
  readonly version: number;
  readonly batches: ReadonlyMap<string, RouteStateName>;
  readonly topics: ReadonlyMap<string, RouteStateName>;
}

export type JournalRecord =
  | { readonly t: 'commit'; readonly expected: number; readonly commit: StateCommit }
  | { readonly t: 'audit'; readonly entry: AuditEntry }
  | { readonly t: 'ledger'; readonly entry: LedgerEntry }
  | { readonly t: 'first-offsets'; readonly updates: readonly FirstOffsetUpdate[] }
  | { readonly t: 'producer-mapping'; readonly mapping: ProducerMapping }
  | { readonly t: 'write-back'; readonly updates: readonly WriteBackUpdate[] }
  /** Fleet route logs only: a member aborted a move whose coordinator is gone (routing/fleet/move-decisions.ts). */
  | { readonly t: 'move-aborted'; readonly moveId: string; readonly by: string };

function mappingToJson(m: ProducerMapping): Record<string, string | number> {
  return {
    clientProducerId: m.clientProducerId.toString(),
    clientEpoch: m.clientEpoch,
    cluster: m.cluster,
    generation: m.generation,
    upstreamProducerId: m.upstreamProducerId.toString(),
    upstreamEpoch: m.upstreamEpoch,
  };
}

export function encodeHeader(header: JournalHeader): string {
  const doc = {
    format: JOURNAL_FORMAT,
    version: header.version,
    batches: [...header.batches].map(([name, state]) => ({ name, state })),
    topics: [...header.topics].map(([name, state]) => ({ name, state })),
  };
  return `${JSON.stringify(doc)}\n`;
}

export function encodeRecord(record: JournalRecord): string {
  let doc: unknown;
  switch (record.t) {
    case 'commit':
      doc = {
        t: 'commit',
        expected: record.expected,
        version: record.commit.version,
        changes: record.commit.changes,
        audit: record.commit.audit,
        ledger: record.commit.ledger.map(ledgerEntryToJson),
        ...(record.commit.moveId !== undefined ? { moveId: record.commit.moveId } : {}),
      };
      break;
    case 'move-aborted':
      doc = record;
      break;
    case 'audit':
      doc = record;
      break;
    case 'ledger':
      doc = { t: 'ledger', entry: ledgerEntryToJson(record.entry) };
      break;
    case 'first-offsets':
      doc = { t: 'first-offsets', updates: record.updates.map((u) => ({ ...u, offset: u.offset.toString() })) };
      break;
    case 'producer-mapping':
      doc = { t: 'producer-mapping', mapping: mappingToJson(record.mapping) };
      break;
    case 'write-back':
      doc = { t: 'write-back', updates: record.updates.map(writeBackUpdateToJson) };
      break;
  }
  return `${JSON.stringify(doc)}\n`;
}

function invalid(origin: string, line: number, what: string, cause?: unknown): StateStoreError {
  return new StateStoreError(`route state ${origin} is invalid: line ${line}: ${what}`, cause === undefined ? undefined : { cause });
}

/** The first line; `raw` is already JSON-parsed. */
export function decodeHeader(raw: unknown, origin: string): JournalHeader {
  const parsed = headerSchema.safeParse(raw);
  if (!parsed.success) throw invalid(origin, 1, formatZodIssues(parsed.error), parsed.error);
  return {
    version: parsed.data.version,
    batches: new Map(parsed.data.batches.map((b) => [b.name, b.state])),
    topics: new Map(parsed.data.topics.map((b) => [b.name, b.state])),
  };
}

/** A complete ("\n"-terminated) line after the header. Anything unreadable is corruption, never skipped. */
export function decodeRecord(text: string, origin: string, line: number): JournalRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw invalid(origin, line, `not valid JSON (${error instanceof Error ? error.message : String(error)})`, error);
  }
  const parsed = recordSchema.safeParse(raw);
  if (!parsed.success) throw invalid(origin, line, formatZodIssues(parsed.error), parsed.error);
  const r = parsed.data;
  switch (r.t) {
    case 'commit': {
      const changes: RouteChange[] = r.changes;
      const commit = { version: r.version, changes, audit: r.audit, ledger: r.ledger.map((e) => ({ ...e })) };
      return { t: 'commit', expected: r.expected, commit: r.moveId === undefined ? commit : { ...commit, moveId: r.moveId } };
    }
    case 'move-aborted':
      return { t: 'move-aborted', moveId: r.moveId, by: r.by };
    case 'audit':
      return { t: 'audit', entry: r.entry };
    case 'ledger':
      return { t: 'ledger', entry: { ...r.entry } };
    case 'first-offsets':
      return { t: 'first-offsets', updates: r.updates };
    case 'producer-mapping':
      return { t: 'producer-mapping', mapping: r.mapping };
    case 'write-back':
      return {
        t: 'write-back',
        updates: r.updates.map((u) => ({
          progress: u.progress,
          entries: u.entries.map(([sourceOffset, targetOffset, count]) => ({ sourceOffset, targetOffset, count })),
          ...(u.segments !== undefined ? { segments: u.segments } : {}),
        })),
      };
  }
}
