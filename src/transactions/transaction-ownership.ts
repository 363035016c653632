// Which proxy instance coordinates a transactional id (and the group of such a producer): the one FindCoordinator
// names and the only one that serves the id's InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn
// (any other answers NOT_COORDINATOR and the client looks the coordinator up again). One instance: itself, named
// as the rendezvous winner over the listener's advertised nodes. A fleet: the live member that wins the key by
// rendezvous over the live members (routing/fleet/rendezvous.ts, the same function as partition leadership), so
// every member names the same one and a member that joins or leaves moves only its own share of ids.
import { rendezvousOwner } from '../../routing/fleet/rendezvous.ts';
import type { ProxyNode } from '../proxy/proxy-context.ts';

export interface TransactionOwnership {
  /** Whether this instance coordinates `key` (`${keyType}:${key}`, see coordinatorKey). */
  owns(key: string): boolean;
  /** The node FindCoordinator names for `key`, given the nodes the client's listener advertises; null: none. */
  nodeFor(key: string, listed: readonly ProxyNode[]): ProxyNode | null;
  /** True in a fleet: several instances serve the same ids. */
  readonly shared: boolean;
}

/** The key both FindCoordinator and the handlers hash (key type 1: a transactional id, 0: a group). */
export function coordinatorKey(keyType: number, key: string): string {
  return `${keyType}:${key}`;
}

export function singleInstanceOwnership(): TransactionOwnership {
  return {
    owns: () => true,
    nodeFor(key, listed) {
      if (listed.length === 0) return null;
      const owner = rendezvousOwner(listed.map((n) => String(n.nodeId)), key);
      return listed.find((n) => String(n.nodeId) === owner) ?? null;
    },
    shared: false,
  };
}

/** `keyOwner`: the fleet's rendezvous over live members (Fleet.keyOwner); `self`: this member's id. */
export function fleetOwnership(keyOwner: (key: string) => { member: string; node: ProxyNode } | null, self: string): TransactionOwnership {
  return {
    owns: (key) => keyOwner(key)?.member === self,
    nodeFor: (key) => keyOwner(key)?.node ?? null,
    shared: true,
  };
}
