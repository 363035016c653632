// `kmp transactions`: one row per transactional id (home, state, open age, coupling), then the recent flips
// with how long each waited for open transactions. The JSON form is GET /v1/transactions as is.
import { formatTable } from '../cli/format.ts';
import type { TransactionInventoryEntry } from './transaction-router.ts';
import type { FlipWait } from './transaction-flip-guard.ts';

export interface TransactionsView {
  readonly transactionalIds: readonly TransactionInventoryEntry[];
  readonly flips: readonly FlipWait[];
}

export function formatTransactions(view: TransactionsView): string {
  const ids = view.transactionalIds.map((t) => [
    t.transactionalId,
    t.homeCluster,
    t.state,
    t.openForMs === null ? '-' : `${t.openForMs} ms`,
    t.coupledTopics.length === 0 ? '-' : t.coupledTopics.join(','),
    t.commitsOffsets ? `yes (${t.groups.join(',')})` : 'no',
    String(t.committed),
    String(t.aborted),
  ]);
  const flips = view.flips.map((f) => [f.label, f.outcome, `${f.waitedMs} ms`, f.waitedFor.length === 0 ? '-' : f.waitedFor.join(','), f.rehomed.length === 0 ? '-' : f.rehomed.join(',')]);
  const parts = [
    ids.length === 0 ? 'no transactional producers seen yet' : formatTable(['TRANSACTIONAL-ID', 'HOME', 'STATE', 'OPEN-FOR', 'COUPLED-TOPICS', 'COMMITS-OFFSETS', 'COMMITTED', 'ABORTED'], ids),
  ];
  if (flips.length > 0) parts.push('', formatTable(['FLIP', 'OUTCOME', 'WAITED', 'WAITED-FOR', 'MOVED-IDS'], flips));
  return parts.join('\n');
}
