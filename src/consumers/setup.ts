// Wires consumer moves into `kmp serve`: group clients for both clusters, the write-back's sync map, the waves
// of the routes config (resolved through the switch table, like the gates), and the control plane's audit.
// serve.ts builds it once the control plane exists and hands `admin` to the admin API; `promotionGate` has the
// shape of the control plane's promote pre-flight hook.
import type { Cluster } from '../../routing/cluster.ts';
import type { PreflightResult } from '../../routing/control-plane.ts';
import type { AuditEntry } from '../../routing/route-state.ts';
import type { Resolution } from '../../routing/switch-table.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import { GroupClient } from './group-client.ts';
import { checkGroupId, moveGroup, type AuditNote, type ConsumerDeps, type MoveResult } from './consumer-moves.ts';
import { listWaveConsumers, type WaveConsumersView } from './consumer-listing.ts';
import { consumerPromotionGate } from './promotion-gate.ts';
import { ConsumerNotFoundError } from './errors.ts';
import type { MoveDirection } from './offset-translation.ts';
import type { SyncMapPort } from './sync-map-port.ts';

/** What the admin API needs (src/consumers/admin-routes.ts). */
export interface AdminConsumers {
  /** One wave, or every wave of the config. */
  list(wave?: string): Promise<{ readonly waves: readonly WaveConsumersView[] }>;
  move(group: string, request: { wave: string; direction: MoveDirection; dryRun: boolean; who: string; reason: string }): Promise<MoveResult>;
}

export interface ConsumersOptions {
  readonly clusters: Readonly<Record<Cluster, ClusterClient>>;
  readonly syncMap: SyncMapPort;
  /** Batches (waves) of the routes config with their explicit topics. */
  readonly batches: Readonly<Record<string, { readonly topics: readonly string[] }>>;
  readonly resolve: (topic: string) => Resolution;
  readonly recordAudit: (entry: AuditNote) => Promise<unknown>;
  readonly audit: () => readonly AuditEntry[];
}

export interface Consumers {
  readonly admin: AdminConsumers;
  /** Refusals for promoting a wave while groups still read its topics on the source. */
  readonly promotionGate: (wave: string) => Promise<PreflightResult>;
}

export function createConsumers(options: ConsumersOptions): Consumers {
  const waves = Object.keys(options.batches).sort();
  const waveTopics = async (wave: string): Promise<string[]> => {
    const batch = options.batches[wave];
    if (batch === undefined) throw new ConsumerNotFoundError(`no wave (batch) named "${wave}" in routes.batches; known: ${waves.join(', ') || 'none'}`);
    const candidates = new Set<string>(batch.topics);
    for (const c of ['source', 'target'] as const) {
      for (const t of await options.clusters[c].allTopics().catch(() => [])) if (!t.isInternal) candidates.add(t.name);
    }
    return [...candidates].filter((t) => options.resolve(t).batch === wave).sort();
  };
  const deps: ConsumerDeps = {
    groups: { source: new GroupClient(options.clusters.source), target: new GroupClient(options.clusters.target) },
    syncMap: options.syncMap,
    waveTopics,
    audit: options.recordAudit,
    lastMove: (group) => {
      const entries = options.audit();
      for (let i = entries.length - 1; i >= 0; i--) {
        const e = entries[i];
        if (e.action === 'consumer-move' && e.target.name === group && e.outcome === 'ok') return e.details.direction ?? null;
      }
      return null;
    },
  };
  return {
    admin: {
      list: async (wave) => ({ waves: await Promise.all((wave === undefined ? waves : [wave]).map((w) => listWaveConsumers(deps, w))) }),
      move: (group, request) => moveGroup(deps, { group: checkGroupId(group), ...request }),
    },
    promotionGate: consumerPromotionGate(deps),
  };
}
