// The proxy instances as clients see them: which node ids exist and at which address each is advertised, on the
// main listener and on each of `proxy.listeners`. Metadata and FindCoordinator answers are built from this.

import { createHash } from 'node:crypto';
import { parseHostPort, type HostPort } from './host-port.ts';
import type { KmpConfig } from './schema.ts';

/** The proxy instances presented to clients as brokers: `proxy.nodes`, or just this one at its advertised address. */
export function proxyNodesOf(config: KmpConfig): { nodeId: number; host: string; port: number }[] {
  if (config.proxy.nodes !== undefined) return config.proxy.nodes.map((n) => ({ ...n }));
  // The schema accepted `advertised` only if it parses, so the cast cannot hide a malformed address.
  const advertised = parseHostPort(config.proxy.advertised) as HostPort;
  return [{ nodeId: config.proxy.nodeId, host: advertised.host, port: advertised.port }];
}

/** The proxy nodes as clients of one of `proxy.listeners` must see them: the same ids, that listener's addresses. */
export function listenerNodesOf(config: KmpConfig, listener: string): { nodeId: number; host: string; port: number }[] {
  const own = config.proxy.listeners.find((l) => l.name === listener);
  if (own === undefined) return proxyNodesOf(config);
  if (config.proxy.nodes === undefined) {
    const a = parseHostPort(own.advertised) as HostPort;
    return [{ nodeId: config.proxy.nodeId, host: a.host, port: a.port }];
  }
  return config.proxy.nodes.map((n) => {
    // Every node names an address on every listener (the schema's cross-check), and it parsed.
    const a = parseHostPort(n.listeners?.[listener] ?? '') as HostPort;
    return { nodeId: n.nodeId, host: a.host, port: a.port };
  });
}

/**
 * The proxy's own cluster id (Metadata's cluster_id): derived from the configured node set, not from this node's
 * address, so every node of a configured set answers with the same id whichever of them a client asks. A fleet
 * (config `fleet:`) uses the id of its control topics instead (src/fleet/).
 */
export function proxyClusterIdOf(config: KmpConfig): string {
  const nodes = proxyNodesOf(config).map((n) => `${n.nodeId}@${n.host}:${n.port}`).sort().join(',');
  return createHash('sha256').update(`kmp:${nodes}`).digest().subarray(0, 16).toString('base64url');
}
