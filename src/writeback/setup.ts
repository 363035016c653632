// Builds the write-back engine from the config (the per-wave options in `writeBack.waves`) for serve.ts.
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { Cluster, RouteStateName } from '../../routing/cluster.ts';
import type { StateStore } from '../../routing/state-store.ts';
import { ConfigError } from '../config/errors.ts';
import type { KmpConfig } from '../config/index.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import { WriteBack, type WaveWriteBack } from './write-back.ts';
import { WriteBackMetrics } from './write-back-metrics.ts';

/** The options of each wave; a wave the routes do not declare is a config error (a typo would silently copy). */
export function waveOptions(config: Pick<KmpConfig, 'routes' | 'writeBack'>): (batch: string | null) => WaveWriteBack {
  const declared = new Set(Object.keys(config.routes.batches));
  const d = config.writeBack.default;
  const DEFAULTS: WaveWriteBack = Object.freeze({ writeBack: d.writeBack, ackAfterWriteBack: d.ackAfterWriteBack });
  const waves = new Map<string, WaveWriteBack>();
  for (const [name, o] of Object.entries(config.writeBack.waves)) {
    if (!declared.has(name)) {
      throw new ConfigError('(writeBack.waves)', [`writeBack.waves.${name}: no wave "${name}" in routes.batches (declared: ${[...declared].join(', ') || 'none'})`]);
    }
    waves.set(name, Object.freeze({ writeBack: o.writeBack, ackAfterWriteBack: o.ackAfterWriteBack }));
  }
  return (batch) => (batch === null ? DEFAULTS : (waves.get(batch) ?? DEFAULTS));
}

export function createWriteBack(options: {
  readonly config: Pick<KmpConfig, 'routes' | 'writeBack'>;
  readonly clusters: Record<Cluster, ClusterClient>;
  readonly store: StateStore;
  readonly log: Logger;
  readonly registry: client.Registry;
  readonly resolve: (topic: string) => { readonly state: RouteStateName; readonly cluster: Cluster; readonly batch: string | null };
}): WriteBack {
  return new WriteBack({
    clusters: options.clusters,
    store: options.store,
    log: options.log.child({ component: 'write-back' }),
    resolve: options.resolve,
    waveOf: waveOptions(options.config),
    metrics: new WriteBackMetrics(options.registry),
  });
}
