// What the admin API needs from the control plane: exactly the read and write operations of routing's
// ControlPlane, named here so the admin server (and its tests' fakes) depend on the operations, not on the
// whole class with its barrier and switch table.
import type { ControlPlane } from '../../routing/control-plane.ts';

export type { LedgerQuery, OperationResult, Page, PageQuery, RoutesView, WriteOptions } from '../../routing/control-plane.ts';
export type { AuditEntry, LedgerEntry } from '../../routing/route-state.ts';
export type { Resolution } from '../../routing/switch-table.ts';

export type AdminControlPlane = Pick<
  ControlPlane,
  | 'routes'
  | 'resolve'
  | 'audit'
  | 'ledger'
  | 'flipBatch'
  | 'rollbackBatch'
  | 'promoteBatch'
  | 'flipTopic'
  | 'rollbackTopic'
  | 'rollbackAll'
> &
  // Paged reads (O(page), not O(history)). Optional so a minimal control plane (a test's fake) still fits; the
  // server then pages the whole lists itself.
  Partial<Pick<ControlPlane, 'auditPage' | 'ledgerPage'>>;
