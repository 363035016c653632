// Paged reads of the audit and the ledger (`?limit=N&before=C`): the query, and paging a whole list for a control
// plane that has no paged reads of its own.
import { HttpError } from './http.ts';

/** Without `limit`, a read returns the newest DEFAULT_PAGE_LIMIT entries (`nextBefore` pages further back). */
export const DEFAULT_PAGE_LIMIT = 1000;

function positiveIntegerParam(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new HttpError(400, `${name}: expected a positive integer, got "${raw}"`);
  return value;
}

/** `?limit=N&before=C`: the newest N entries older than cursor C (an audit seq, a ledger position). */
export function pageQueryOf(url: URL): { limit: number; before?: number } {
  const before = positiveIntegerParam(url, 'before');
  return { limit: positiveIntegerParam(url, 'limit') ?? DEFAULT_PAGE_LIMIT, ...(before !== undefined ? { before } : {}) };
}

/** Pages a whole list (a control plane without paged reads): the newest `limit` before the cursor, oldest first. */
export function pageOf<T>(entries: readonly T[], query: { limit: number; before?: number }, cursorOf: (entry: T) => number): { total: number; entries: readonly T[]; nextBefore: number | null } {
  const before = query.before;
  const end = before === undefined ? entries.length : entries.filter((e) => cursorOf(e) < before).length;
  const start = Math.max(0, end - query.limit);
  return { total: entries.length, entries: entries.slice(start, end), nextBefore: start > 0 ? cursorOf(entries[start]) : null };
}
