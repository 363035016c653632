// Wires the gates of issue #15 items 3-6 into `kmp serve` (setup.ts wires items 1-2):
// - two ProduceConcerns for the data path: the upstream producer-id recorder (so bypass detection knows kmp's own
//   ids) and the per-topic evidence;
// - the bypass detector, watching the old cluster of every partition the ledger says moved and whose route still
//   points away from it; its findings become a metric per topic, a log line and an audit note;
// - the promotion gate (bypass, open transactions; others add checks) as promote's pre-flight hook;
// - the canary runner and the operation registry behind `GET /v1/operations/{id}`.
// serve.ts calls createMigrationGates() before the control plane (its hook and concerns are needed to build the
// control plane and the proxy context) and bind() once the control plane exists.
import client from 'prom-client';
import type { Logger } from 'pino';
import type { Cluster } from '../../routing/cluster.ts';
import type { ControlPlane, PreflightResult } from '../../routing/control-plane.ts';
import type { ProduceConcern } from '../proxy/produce/produce-session.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import type { AdminControlPlane } from '../admin/control-plane-port.ts';
import type { InventoryTopicView } from '../inventory.ts';
import { BypassDetector, type BypassWrite, type FleetAlarm, type WatchedTopic } from './bypass-detector.ts';
import { CanaryRunner, type CanaryView } from './canary.ts';
import type { GatesConfig2 } from './gates-config.ts';
import { OperationRegistry } from './operation-registry.ts';
import { ProducerAttribution, UpstreamPidRecorder } from './producer-attribution.ts';
import { PromotionGate, bypassCheck, openTransactionsCheck } from './promotion-gate.ts';
import { TopicEvidence } from './topic-evidence.ts';

export interface MigrationGatesDeps {
  readonly config: GatesConfig2;
  /** Batches of the routes config with their explicit topics. */
  readonly batches: Readonly<Record<string, { readonly topics: readonly string[] }>>;
  readonly clusters: Record<Cluster, ClusterClient>;
  readonly metrics: { readonly registry: client.Registry; topicLabel(topic: string): string };
  readonly log: Logger;
}

export interface BoundMigrationGates {
  readonly detector: BypassDetector;
  readonly canary: CanaryRunner;
  readonly operations: OperationRegistry<CanaryView>;
  /** `kmp status --topic T`: route, evidence per cluster, bypass, schema ids. */
  topicStatus(topic: string): unknown;
}

export interface MigrationGates {
  readonly produceConcerns: readonly ProduceConcern[];
  readonly attribution: ProducerAttribution;
  readonly promotion: PromotionGate;
  readonly evidence: TopicEvidence;
  readonly promotePreflight: (batch: string) => Promise<PreflightResult>;
  bind(controlPlane: ControlPlane, admin: AdminControlPlane, inventory: () => readonly InventoryTopicView[]): BoundMigrationGates;
  close(): void;
}

export function createMigrationGates(deps: MigrationGatesDeps): MigrationGates {
  const { clusters, log } = deps;
  const recorder = new UpstreamPidRecorder();
  const attribution = new ProducerAttribution(recorder);
  const evidence = new TopicEvidence();
  const promotion = new PromotionGate();
  const registers = [deps.metrics.registry];
  let cp: ControlPlane | null = null;
  let detector: BypassDetector | null = null;

  const bypassOffsets = new client.Counter({ name: 'kmp_bypass_offsets_total', help: 'Offsets written to the old cluster of moved partitions that kmp did not write (producers still connected directly).', labelNames: ['topic', 'cluster'], registers });
  const fleetAlarms = new client.Counter({ name: 'kmp_fleet_stale_route_writes_total', help: 'Writes of another kmp instance of the fleet to the old cluster of a moved partition (a stale route).', labelNames: ['topic', 'member'], registers });
  new client.Gauge({
    name: 'kmp_bypass_active', help: '1 while bypass writes to the old cluster were seen within gates.bypass.windowMs.', labelNames: ['topic'], registers,
    collect() {
      this.reset();
      for (const b of detector?.seenWithin(deps.config.bypass.windowMs) ?? []) this.set({ topic: deps.metrics.topicLabel(b.topic) }, 1);
    },
  });
  const perTopic = (name: string, help: string, labelNames: string[], fill: (g: client.Gauge<string>) => void) =>
    new client.Gauge({ name, help, labelNames, registers, collect() { this.reset(); fill(this); } });
  const eachCluster = (fn: (topic: string, cluster: Cluster, v: NonNullable<ReturnType<TopicEvidence['view']>>['clusters'][Cluster] & object) => void) => {
    for (const topic of evidence.topics()) {
      const view = evidence.view(topic);
      for (const [cluster, v] of Object.entries(view?.clusters ?? {}) as [Cluster, NonNullable<ReturnType<TopicEvidence['view']>>['clusters'][Cluster] & object][]) fn(topic, cluster, v);
    }
  };
  perTopic('kmp_topic_event_age_seconds', 'now - maxTimestamp of the newest batch written, at its write (producer-side lag; records are not decoded).', ['topic', 'cluster'], (g) =>
    eachCluster((topic, cluster, v) => {
      if (v.eventAgeMs !== null) g.set({ topic: deps.metrics.topicLabel(topic), cluster }, v.eventAgeMs / 1000);
    }));
  perTopic('kmp_topic_produce_latency_seconds', 'Produce latency per partition write (read to upstream answer) over the last rate interval, by quantile.', ['topic', 'cluster', 'quantile'], (g) =>
    eachCluster((topic, cluster, v) => {
      if (v.recent.p50Ms !== null) g.set({ topic: deps.metrics.topicLabel(topic), cluster, quantile: '0.5' }, v.recent.p50Ms / 1000);
      if (v.recent.p99Ms !== null) g.set({ topic: deps.metrics.topicLabel(topic), cluster, quantile: '0.99' }, v.recent.p99Ms / 1000);
    }));
  perTopic('kmp_topic_produce_error_ratio', 'Failed share of partition writes over the last rate interval.', ['topic', 'cluster'], (g) =>
    eachCluster((topic, cluster, v) => {
      if (v.recent.errorRate !== null) g.set({ topic: deps.metrics.topicLabel(topic), cluster }, v.recent.errorRate);
    }));

  // One audit note per topic when bypass starts, when a new producer id shows up, and again after a quiet window.
  const noted = new Map<string, { at: number; ids: Set<string> }>();
  const onBypass = (w: BypassWrite): void => {
    bypassOffsets.inc({ topic: deps.metrics.topicLabel(w.topic), cluster: w.cluster }, Number(BigInt(w.toOffset) - BigInt(w.fromOffset)));
    const who = [w.producerIds.length > 0 ? `producer ids ${w.producerIds.join(', ')}` : '', w.unattributed ? 'a producer without an id (not idempotent)' : ''].filter((s) => s !== '').join(' and ');
    const line = `bypass: ${BigInt(w.toOffset) - BigInt(w.fromOffset)} offsets written straight to the ${w.cluster} cluster on ${w.topic}-${w.partition} (offsets ${w.fromOffset}..${w.toOffset}) by ${who}; kmp routes this partition elsewhere`;
    log.warn({ event: 'bypass', topic: w.topic, partition: w.partition, cluster: w.cluster, producerIds: w.producerIds, unattributed: w.unattributed, fromOffset: w.fromOffset, toOffset: w.toOffset }, line);
    const last = noted.get(w.topic);
    const now = Date.now();
    const newIds = w.producerIds.filter((id) => !(last?.ids.has(id) ?? false));
    if (last !== undefined && newIds.length === 0 && now - last.at < deps.config.bypass.windowMs) return;
    noted.set(w.topic, { at: now, ids: new Set([...(last?.ids ?? []), ...w.producerIds]) });
    cp?.note({ who: 'kmp:bypass-detector', target: { kind: 'topic', name: w.topic }, reason: line, details: { topics: [w.topic], warnings: [line] } }).catch(() => undefined);
  };
  const onFleetAlarm = (a: FleetAlarm): void => {
    fleetAlarms.inc({ topic: deps.metrics.topicLabel(a.topic), member: a.member });
    const line = `FLEET STALE ROUTE: kmp instance ${a.member} wrote to the ${a.cluster} cluster on ${a.topic}-${a.partition} (producer id ${a.producerId}) after the partition moved; it has not applied the route`;
    log.error({ event: 'fleet-stale-route', ...a }, line);
    cp?.note({ who: 'kmp:bypass-detector', target: { kind: 'topic', name: a.topic }, reason: line, details: { topics: [a.topic], error: line } }).catch(() => undefined);
  };

  // Partitions whose newest ledger entry moved them off a cluster their route still points away from.
  let watchedCache: { version: number; list: WatchedTopic[] } = { version: -1, list: [] };
  const watched = (): readonly WatchedTopic[] => {
    if (cp === null) return [];
    if (cp.version === watchedCache.version) return watchedCache.list;
    const newest = new Map<string, { topic: string; partition: number; from: Cluster; to: Cluster; version: number }>();
    for (const e of cp.ledger()) newest.set(`${e.topic}\u0000${e.partition}`, e);
    const byTopic = new Map<string, WatchedTopic & { partitions: number[]; movedAt: number[] }>();
    for (const e of newest.values()) {
      if (e.from === e.to || cp.resolve(e.topic).cluster !== e.to) continue;
      const t = byTopic.get(e.topic) ?? { topic: e.topic, oldCluster: e.from, partitions: [], movedAt: [] };
      t.partitions.push(e.partition);
      t.movedAt.push(e.version);
      byTopic.set(e.topic, t);
    }
    watchedCache = { version: cp.version, list: [...byTopic.values()] };
    return watchedCache.list;
  };

  detector = new BypassDetector({ clusters, watched, attribution, intervalMs: deps.config.bypass.intervalMs, windowMs: deps.config.bypass.windowMs, onBypass, onFleetAlarm });
  promotion.add(bypassCheck(detector, deps.config.bypass.windowMs));
  promotion.add(openTransactionsCheck(clusters));

  const waveTopics = async (wave: string): Promise<string[]> => {
    const candidates = new Set<string>(deps.batches[wave]?.topics ?? []);
    for (const c of ['source', 'target'] as const) {
      for (const t of await clusters[c].allTopics().catch(() => [])) if (!t.isInternal) candidates.add(t.name);
    }
    return [...candidates].filter((t) => cp !== null && cp.resolve(t).batch === wave && cp.resolve(t).cluster === 'target').sort();
  };

  const promotePreflight = async (batch: string): Promise<PreflightResult> => {
    const started = performance.now();
    const result = await promotion.evaluate({ wave: batch, topics: await waveTopics(batch), oldCluster: 'source', newCluster: 'target' });
    log.info({ event: 'promotion-gate', wave: batch, refusals: result.refusals, checks: result.checks.map((c) => ({ name: c.name, ms: c.ms, refusals: c.refusals.length })), ms: Math.round(performance.now() - started) }, 'promotion gate evaluated');
    return { refusals: result.refusals, warnings: result.warnings };
  };

  return {
    produceConcerns: [recorder, evidence],
    attribution,
    promotion,
    evidence,
    promotePreflight,
    bind(controlPlane, admin, inventory) {
      cp = controlPlane;
      detector!.start();
      const operations = new OperationRegistry<CanaryView>();
      const canary = new CanaryRunner({ controlPlane: admin, evidence, registry: operations, log });
      return {
        detector: detector!,
        canary,
        operations,
        topicStatus: (topic) => {
          const inv = inventory().find((t) => t.topic === topic);
          return {
            topic,
            route: controlPlane.resolve(topic),
            evidence: evidence.view(topic)?.clusters ?? {},
            bypass: detector!.topic(topic),
            schemaIds: inv?.schemaIds ?? [],
            producers: inv?.producers.length ?? 0,
          };
        },
      };
    },
    close() {
      detector?.stop();
      evidence.close();
    },
  };
}
