// Planning a route operation: from the current table snapshot to the list of route changes (before → after),
// the direction traffic moves, and what needed force. Pure functions of a snapshot, so a dry run and the real
// run compute the same plan, and the commit can re-check it against the state it finally lands on.
//
// Topic overrides exist only while they differ from the topic's batch (or the default):
// - flipTopic/rollbackTopic set an override, or drop it when the topic's batch already is on that side;
// - a batch operation drops the overrides of its topics that now agree with the batch, so a topic flipped
//   ahead of its wave simply belongs to the wave again once the wave follows;
// - an override that keeps a topic on the other side survives its wave's operations (the topic does not move)
//   until rollbackAll, or a flip/rollback of that topic.

import { clusterOf, type Cluster, type RouteStateName } from './cluster.ts';
import { RouteConflictError } from './errors.ts';
import { checkTransition, type RouteChange } from './route-state.ts';
import type { RoutingSnapshot } from './switch-table.ts';

export interface RoutePlan {
  readonly changes: readonly RouteChange[];
  /** The direction traffic moves; both null when no topic changes cluster (promote). */
  readonly from: Cluster | null;
  readonly to: Cluster | null;
  /** What only force allowed (promoted rollbacks), as sentences for the audit and the API answer. */
  readonly forced: readonly string[];
  /** Promoted routes go back to source: the ledger entries are reconciliation events. */
  readonly reconciliation: boolean;
}

/** What an operation claims while it runs; overlapping operations are refused with 409. */
export type OperationScope =
  | { readonly kind: 'batch'; readonly name: string }
  | { readonly kind: 'topic'; readonly name: string; /** the batch the rules put it in */ readonly batch: string | null }
  | { readonly kind: 'all' };

export function scopesOverlap(a: OperationScope, b: OperationScope): boolean {
  if (a.kind === 'all' || b.kind === 'all') return true;
  if (a.kind === b.kind) return a.name === b.name;
  const topic = a.kind === 'topic' ? a : b.kind === 'topic' ? b : null;
  const batch = a.kind === 'batch' ? a : b.kind === 'batch' ? b : null;
  return topic !== null && batch !== null && topic.batch === batch.name;
}

/** flip (→ target), rollback (→ source) or promote (→ promoted) of one batch. */
export function planBatch(snapshot: RoutingSnapshot, name: string, to: RouteStateName, force: boolean): RoutePlan {
  const before = snapshot.batchState(name);
  const verdict = checkTransition({ kind: 'batch', name }, before, to, force);
  const changes: RouteChange[] = [{ kind: 'batch', name, before, after: to }];
  for (const [topic, state] of snapshot.topicOverrides) {
    if (snapshot.rules.match(topic).batch === name && clusterOf(state) === clusterOf(to)) {
      changes.push({ kind: 'topic', name: topic, before: state, after: null });
    }
  }
  const from = clusterOf(before);
  const moves = from !== clusterOf(to);
  return {
    changes,
    from: moves ? from : null,
    to: moves ? clusterOf(to) : null,
    forced: verdict.forced ? [`batch "${name}" was promoted: rolled back with force (reconciliation)`] : [],
    reconciliation: verdict.reconciliation,
  };
}

/** flip (→ target) or rollback (→ source) of one topic, whatever rule routes it now. */
export function planTopic(snapshot: RoutingSnapshot, topic: string, to: Cluster, force: boolean): RoutePlan {
  const effective = snapshot.resolve(topic).state;
  const verdict = checkTransition({ kind: 'topic', name: topic }, effective, to, force);
  const after: RouteStateName | null = clusterOf(snapshot.ruleState(topic)) === to ? null : to;
  return {
    changes: [{ kind: 'topic', name: topic, before: snapshot.topicOverride(topic) ?? null, after }],
    from: clusterOf(effective),
    to,
    forced: verdict.forced ? [`topic "${topic}" was promoted: rolled back with force (reconciliation)`] : [],
    reconciliation: verdict.reconciliation,
  };
}

/**
 * Every declared batch and every topic override back to source. Topics routed to the target by the configured
 * default (`default: target`) stay there: the default is config, not state.
 */
export function planRollbackAll(snapshot: RoutingSnapshot, force: boolean): RoutePlan {
  const changes: RouteChange[] = [];
  const promoted: string[] = [];
  const rolledBack = new Set<string>();
  for (const batch of snapshot.rules.batches) {
    const before = snapshot.batchState(batch.name);
    if (before === 'source') continue;
    if (before === 'promoted') promoted.push(`batch "${batch.name}"`);
    changes.push({ kind: 'batch', name: batch.name, before, after: 'source' });
    rolledBack.add(batch.name);
  }
  for (const [topic, before] of snapshot.topicOverrides) {
    if (before === 'promoted') promoted.push(`topic "${topic}"`);
    const batch = snapshot.rules.match(topic).batch;
    const ruleStateAfter = batch !== null && rolledBack.has(batch) ? 'source' : snapshot.ruleState(topic);
    const after: RouteStateName | null = clusterOf(ruleStateAfter) === 'source' ? null : 'source';
    if (after !== before) changes.push({ kind: 'topic', name: topic, before, after });
  }
  if (!changes.some((c) => c.kind === 'batch' || clusterOf(c.before ?? 'source') === 'target')) {
    throw new RouteConflictError('nothing to roll back: every batch and topic override is already on source');
  }
  if (promoted.length > 0 && !force) {
    throw new RouteConflictError(
      `${promoted.join(', ')} ${promoted.length === 1 ? 'is' : 'are'} promoted: the target is authoritative. ` +
        'Rolling back requires force=true; the rollback is then recorded as a reconciliation event with the ledger offsets.',
      promoted,
    );
  }
  return {
    changes,
    from: 'target',
    to: 'source',
    forced: promoted.map((p) => `${p} was promoted: rolled back with force (reconciliation)`),
    reconciliation: promoted.length > 0,
  };
}
