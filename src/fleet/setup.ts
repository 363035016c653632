// Builds the fleet runtime from the `fleet:` config block (src/serve.ts calls this; without `fleet:` it returns
// null and nothing else changes). The control cluster gets a ClusterClient of its own, even when it is the
// source or target cluster: control records then never wait behind a client's Produce on a shared connection.
import type { Logger } from 'pino';
import { parseHostPort, type KmpConfig } from '../config/index.ts';
import { createUpstreamSecurity } from '../security/setup.ts';
import { ClusterClient } from '../upstream/cluster-client.ts';
import { CONTROL_CONNECTIONS, Fleet } from './fleet.ts';

export interface FleetReport {
  appliedVersion: number;
  connections: number;
  inflight: number;
}

/** Starts the fleet (retrying until the control cluster answers), or returns null without a `fleet:` block. */
export async function startFleetRuntime(config: KmpConfig, log: Logger, report: () => FleetReport): Promise<Fleet | null> {
  const f = config.fleet;
  if (f === undefined) return null;
  const controlCluster = typeof f.control === 'string' ? config.clusters[f.control] : f.control;
  const security = createUpstreamSecurity(controlCluster);
  const client = new ClusterClient({
    // The label in logs: the configured cluster's name, or "source" for a third cluster (ClusterClient names
    // are the two data clusters'); its connections use client id kmp-control-… either way.
    name: typeof f.control === 'string' ? f.control : 'source',
    bootstrap: controlCluster.bootstrap,
    requestTimeoutMs: Math.min(controlCluster.requestTimeoutMs, 10_000),
    metadataTtlMs: controlCluster.metadataTtlMs,
    connectionsPerBroker: CONTROL_CONNECTIONS,
    maxFrameBytes: config.proxy.maxFrameBytes,
    logger: log.child({ component: 'fleet-control' }),
    security: () => security.current(),
  });
  // The schema accepted `advertised` only if it parses.
  const advertised = parseHostPort(config.proxy.advertised)!;
  const fleet = new Fleet({
    settings: f,
    control: client,
    requestTimeoutMs: Math.min(controlCluster.requestTimeoutMs, 10_000),
    nodeId: config.proxy.nodeId,
    host: advertised.host,
    port: advertised.port,
    logger: log.child({ component: 'fleet' }),
    report,
  });
  for (let delay = 200; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      await fleet.start();
      log.info({ member: fleet.member, clusterId: fleet.clusterId, version: fleet.store.appliedVersion, live: fleet.membership.live() }, 'fleet: joined');
      return fleet;
    } catch (error) {
      log.warn({ err: error instanceof Error ? error.message : String(error), retryInMs: delay }, 'fleet: control cluster not ready; retrying');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
