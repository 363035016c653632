// The two sides of a migration and the three states a route can be in. Kept in one tiny module because every
// other routing file needs them and none of them should depend on a bigger one just for these names.

/** A Kafka cluster the proxy forwards to. */
export type Cluster = 'source' | 'target';

/**
 * Where a batch (wave) or a single topic stands in the migration.
 * - `source`: writes go to the source cluster (the initial state).
 * - `target`: writes go to the target cluster; rolling back is an ordinary operation.
 * - `promoted`: writes go to the target and the target is authoritative: rolling back needs `force` and is
 *   recorded as a reconciliation event, because the source lacks everything written since the flip.
 */
export type RouteStateName = 'source' | 'target' | 'promoted';

export const CLUSTERS: readonly Cluster[] = ['source', 'target'];
export const ROUTE_STATE_NAMES: readonly RouteStateName[] = ['source', 'target', 'promoted'];

/** The cluster that receives the writes of a route in `state`. */
export function clusterOf(state: RouteStateName): Cluster {
  return state === 'source' ? 'source' : 'target';
}

export function otherCluster(cluster: Cluster): Cluster {
  return cluster === 'source' ? 'target' : 'source';
}
