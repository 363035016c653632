// The JSON codec of route state, shared by every store so they all write the same validated data:
// - offsets are bigints in memory and decimal strings in JSON (int64 does not fit a JSON number);
// - batches and topic overrides are arrays of {name, state}, not objects keyed by name: a topic may legally be
//   called "__proto__" or "constructor", which must never become an object key.
// Two layouts use it: the v1 document (the whole state in one JSON object, what FileStateStore wrote before the
// journal) and the v2 journal records (journal-codec.ts), whose audit and ledger entries use the same schemas.

import { z } from 'zod';
import { ROUTE_STATE_NAMES, type RouteStateName } from './cluster.ts';
import { StateStoreError } from './errors.ts';
import type { AuditEntry, LedgerEntry, RouteState } from './route-state.ts';
import { formatZodIssues } from './rules.ts';

export const STATE_FORMAT = 1;

export const stateName = z.enum(ROUTE_STATE_NAMES as [RouteStateName, ...RouteStateName[]]);
export const clusterSchema = z.enum(['source', 'target']);
export const offsetSchema = z
  .string()
  .regex(/^-?\d{1,19}$/, 'must be a decimal int64')
  .transform((s) => BigInt(s))
  .nullable();

export const auditSchema = z.object({
  seq: z.number().int().positive(),
  who: z.string(),
  when: z.string(),
  action: z.enum(['flip', 'rollback', 'promote', 'rollback-all', 'consumer-move', 'note']),
  target: z.object({ kind: z.enum(['batch', 'topic', 'all', 'group']), name: z.string().nullable() }),
  reason: z.string(),
  changes: z.array(
    z.object({ kind: z.enum(['batch', 'topic']), name: z.string(), before: stateName.nullable(), after: stateName.nullable() }),
  ),
  outcome: z.enum(['ok', 'aborted', 'refused', 'forced']),
  version: z.number().int().nonnegative(),
  details: z.object({
    refusals: z.array(z.string()).optional(),
    warnings: z.array(z.string()).optional(),
    error: z.string().optional(),
    reconciliation: z.boolean().optional(),
    topics: z.array(z.string()).optional(),
    partitions: z.number().optional(),
    holdMs: z.number().optional(),
    drainMs: z.number().optional(),
    heldRequests: z.number().optional(),
    rejectedRequests: z.number().optional(),
    wave: z.string().optional(),
    direction: z.enum(['to-target', 'to-source']).optional(),
    offsets: z.array(z.object({ topic: z.string(), partition: z.number().int().nonnegative(), from: z.string(), to: z.string() })).optional(),
    partitionErrors: z
      .object({ total: z.number().int().nonnegative(), byError: z.record(z.string(), z.number()), reasons: z.record(z.string(), z.number()) })
      .optional(),
    warmUpMs: z.number().optional(),
  }),
});

export const ledgerSchema = z.object({
  topic: z.string(),
  partition: z.number().int().nonnegative(),
  from: clusterSchema,
  to: clusterSchema,
  version: z.number().int().nonnegative(),
  lastOffsetOnOld: offsetSchema,
  firstOffsetOnNew: offsetSchema,
  holdMs: z.number().nonnegative(),
  at: z.string(),
  reconciliation: z.boolean(),
  reconcileFromOffset: offsetSchema,
  failedDrain: z.boolean(),
});

export const namedState = z.object({ name: z.string(), state: stateName });

const documentSchema = z.object({
  format: z.literal(STATE_FORMAT),
  version: z.number().int().nonnegative(),
  batches: z.array(namedState),
  topics: z.array(namedState),
  audit: z.array(auditSchema),
  ledger: z.array(ledgerSchema),
});

export function offsetToJson(value: bigint | null): string | null {
  return value === null ? null : value.toString();
}

/** A ledger entry as JSON-safe data (offsets as decimal strings), for the store and the admin API. */
export function ledgerEntryToJson(entry: LedgerEntry): Record<string, string | number | boolean | null> {
  return {
    topic: entry.topic,
    partition: entry.partition,
    from: entry.from,
    to: entry.to,
    version: entry.version,
    lastOffsetOnOld: offsetToJson(entry.lastOffsetOnOld),
    firstOffsetOnNew: offsetToJson(entry.firstOffsetOnNew),
    holdMs: entry.holdMs,
    at: entry.at,
    reconciliation: entry.reconciliation,
    reconcileFromOffset: offsetToJson(entry.reconcileFromOffset),
    failedDrain: entry.failedDrain,
  };
}

/** Serializes the state to the store's JSON document. */
export function encodeState(state: RouteState): string {
  const document = {
    format: STATE_FORMAT,
    version: state.version,
    batches: [...state.batches].map(([name, s]) => ({ name, state: s })),
    topics: [...state.topics].map(([name, s]) => ({ name, state: s })),
    audit: state.audit,
    ledger: state.ledger.map(ledgerEntryToJson),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Parses and validates a stored document. `origin` names the source (e.g. the file path) in errors. */
export function decodeState(text: string, origin: string): RouteState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new StateStoreError(`route state ${origin} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) {
    throw new StateStoreError(`route state ${origin} is invalid: ${formatZodIssues(parsed.error)}`, { cause: parsed.error });
  }
  const doc = parsed.data;
  const audit: AuditEntry[] = doc.audit;
  const ledger: LedgerEntry[] = doc.ledger.map((entry) => ({ ...entry }));
  return {
    version: doc.version,
    batches: new Map(doc.batches.map((b) => [b.name, b.state])),
    topics: new Map(doc.topics.map((t) => [t.name, t.state])),
    audit,
    ledger,
  };
}

