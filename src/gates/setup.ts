// Wires the migration gates into `kmp serve`: the producer inventory (with its asynchronous schema sampler), the
// source/target registries when configured, the schema gate added to the control plane's pre-flight, and
// prepare for the admin API. serve.ts calls createGates() before the control plane exists (the pre-flight hook
// is needed to build it) and bind() once it does (waves resolve through its switch table).
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Cluster } from '../../routing/cluster.ts';
import type { PreflightResult } from '../../routing/control-plane.ts';
import type { Resolution } from '../../routing/switch-table.ts';
import { ProducerInventory } from '../inventory.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import { applyPrepare, planPrepare, type ApplyOptions, type PrepareAuditEntry, type PrepareDeps, type PreparePlan, type PrepareResult } from './prepare.ts';
import { RegistryClient, type RegistryConfig } from './registry-client.ts';
import { checkSchemas, withSchemaGate, type SchemaGateReport } from './schema-gate.ts';

export class WaveNotFoundError extends Error {
  constructor(wave: string, known: readonly string[]) {
    super(`no wave (batch) named "${wave}" in routes.batches; known: ${known.join(', ') || 'none'}`);
    this.name = 'WaveNotFoundError';
  }
}

/** What the admin API needs from the gates. */
export interface AdminGates {
  prepare(wave: string): Promise<PreparePlan>;
  applyPrepare(wave: string, opts: ApplyOptions): Promise<PrepareResult>;
  /** The schema gate for a wave's topics, as a flip would run it; null when no registries are configured. */
  schemas(wave: string): Promise<SchemaGateReport | null>;
}

export interface GatesConfig {
  readonly registries: Partial<Record<Cluster, RegistryConfig>>;
  /** Batches of the routes config with their explicit topics. */
  readonly batches: Readonly<Record<string, { readonly topics: readonly string[] }>>;
  /** Where applied prepares are recorded, one JSON object per line. */
  readonly auditFile: string;
}

export interface Gates {
  readonly inventory: ProducerInventory;
  /** The base pre-flight with the schema gate added when both registries are configured. */
  preflight(base: (topics: readonly string[], to: Cluster) => Promise<PreflightResult>): (topics: readonly string[], to: Cluster) => Promise<PreflightResult>;
  bind(resolve: (topic: string) => Resolution): AdminGates;
  close(): void;
}

export function createGates(config: GatesConfig, clusters: Record<Cluster, ClusterClient>, log: Logger): Gates {
  const { source, target } = config.registries;
  const registries = source !== undefined && target !== undefined ? { source: new RegistryClient(source), target: new RegistryClient(target) } : null;
  if ((source === undefined) !== (target === undefined)) {
    log.warn('a schemaRegistry is configured for one cluster only: the schema gate needs both and is off');
  }
  // Subjects of each id in the source registry, for the inventory view; looked up once, off the hot path.
  const subjects = new Map<number, string[]>();
  const inventory = new ProducerInventory({
    subjectsOf: (id) => subjects.get(id),
    onNewSchemaId: (_topic, id) => {
      if (registries === null || subjects.has(id)) return;
      subjects.set(id, []);
      registries.source.subjectVersionsOf(id).then(
        (vs) => subjects.set(id, [...new Set(vs.map((v) => v.subject))].sort()),
        (err: unknown) => {
          subjects.delete(id); // asked again when the id is next seen on a topic
          log.debug({ id, err: String(err) }, 'inventory: schema subjects lookup failed');
        },
      );
    },
  });

  const schemaGate = async (topics: readonly string[]): Promise<SchemaGateReport> => {
    if (registries === null) return { checked: [], refusals: [], warnings: [] };
    // Samples already queued may carry ids the gate must see; wait for them, but never long: under steady load
    // the sampler is never idle.
    await Promise.race([inventory.samplesSettled(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    return checkSchemas(registries, inventory.schemaIdsOf(topics));
  };

  const audit = async (entry: PrepareAuditEntry): Promise<void> => {
    const line = { at: new Date().toISOString(), ...entry };
    log.info({ audit: line }, 'prepare applied');
    await fs.appendFile(config.auditFile, `${JSON.stringify(line)}\n`);
  };

  return {
    inventory,
    preflight: (base) => (registries === null ? base : withSchemaGate(base, schemaGate)),
    bind(resolve) {
      const waveTopics = async (wave: string): Promise<string[]> => {
        const batch = config.batches[wave];
        if (batch === undefined) throw new WaveNotFoundError(wave, Object.keys(config.batches));
        const candidates = new Set<string>(batch.topics);
        for (const c of ['source', 'target'] as const) {
          for (const t of await clusters[c].allTopics().catch(() => [])) if (!t.isInternal) candidates.add(t.name);
        }
        return [...candidates].filter((t) => resolve(t).batch === wave).sort();
      };
      const deps: PrepareDeps = {
        clusters,
        waveTopics,
        ...(registries !== null ? { schemas: schemaGate } : {}),
        audit,
      };
      return {
        prepare: (wave) => planPrepare(deps, wave),
        applyPrepare: (wave, opts) => applyPrepare(deps, wave, opts),
        schemas: async (wave) => (registries === null ? null : schemaGate(await waveTopics(wave))),
      };
    },
    close: () => inventory.close(),
  };
}
