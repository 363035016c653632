// The fleet runtime of one instance (docs/fleet.md): control topics on the control cluster, the Kafka-backed
// route store, membership with leases, the move transport over the move log, and what the data path asks of
// them — which instances are the brokers, which one leads a partition, whether this one is fenced, and which
// upstream producer id a (client pid, epoch, cluster, generation) maps to on every instance.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Cluster } from '../../routing/cluster.ts';
import { producerMappingKey } from '../../routing/state-store.ts';
import { rendezvousOwner } from '../../routing/fleet/rendezvous.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import type { MappingKey, UpstreamProducer } from '../proxy/producer-id-map.ts';
import type { ProxyNode } from '../proxy/proxy-context.ts';
import { ControlLog, type ControlTopicSpec } from './control-log.ts';
import { KafkaMoveTransport } from './kafka-move-transport.ts';
import { KafkaStateStore } from './kafka-state-store.ts';
import { Membership, type MemberInfo } from './membership.ts';
import { FleetTransactionLog } from './transaction-log.ts';
import { OrphanResolver } from '../../routing/fleet/orphan-resolver.ts';

export interface FleetSettings {
  readonly topicPrefix: string;
  readonly instanceId?: string | undefined;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly skewMarginMs: number;
  readonly replicationFactor: number;
}

export interface FleetOptions {
  readonly settings: FleetSettings;
  /** A client of the control cluster of its own (control traffic never queues behind Produce). */
  readonly control: ClusterClient;
  readonly requestTimeoutMs: number;
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  /** Filled in once the proxy runs: what heartbeats report. */
  readonly report: () => { appliedVersion: number; connections: number; inflight: number };
}

/** Connection lanes of the control client: 0 appends, one per tailed topic (long polls block their lane). */
const LANES = { routes: 1, producerIds: 2, members: 3, moves: 4, transactions: 5 } as const;
export const CONTROL_CONNECTIONS = 6;

export function controlTopics(prefix: string): { routes: string; moves: string; members: string; producerIds: string; transactions: string } {
  return { routes: `${prefix}.routes`, moves: `${prefix}.moves`, members: `${prefix}.members`, producerIds: `${prefix}.producer-ids`, transactions: `${prefix}.transactions` };
}

/** The cluster id every member answers with: derived from the fleet's identity (its control topics), not from an address. */
export function fleetClusterId(prefix: string): string {
  return createHash('sha256').update(`kmp-fleet:${prefix}`).digest().subarray(0, 16).toString('base64url');
}

export class Fleet {
  readonly member: string;
  readonly clusterId: string;
  readonly store: KafkaStateStore;
  readonly transport: KafkaMoveTransport;
  readonly membership: Membership;
  /** Transactional ids' shared state (src/transactions/ reads and writes it). */
  readonly transactions: FleetTransactionLog;
  /** Releases the members of a move whose coordinator died mid-move (routing/fleet/orphan-resolver.ts). */
  readonly orphans: OrphanResolver;
  readonly #o: FleetOptions;
  #orphanTimer: ReturnType<typeof setInterval> | null = null;
  readonly #log: ControlLog;
  readonly #self: ProxyNode;
  #nodesKey = '';
  #ownersOf: readonly string[] = [];
  readonly #owners = new Map<string, string | null>();
  #nodes: ProxyNode[] = [];
  readonly #leadershipListeners = new Set<() => void>();

  constructor(options: FleetOptions) {
    this.#o = options;
    const s = options.settings;
    this.member = s.instanceId ?? `kmp-${options.nodeId}`;
    this.clusterId = fleetClusterId(s.topicPrefix);
    this.#self = { nodeId: options.nodeId, host: options.host, port: options.port };
    this.#log = new ControlLog(options.control, { requestTimeoutMs: options.requestTimeoutMs });
    const topics = controlTopics(s.topicPrefix);
    this.store = new KafkaStateStore({ log: this.#log, routesTopic: topics.routes, producerIdsTopic: topics.producerIds, logger: options.logger, lanes: [LANES.routes, LANES.producerIds] });
    this.membership = new Membership({
      log: this.#log,
      topic: topics.members,
      lane: LANES.members,
      self: { member: this.member, nodeId: options.nodeId, host: options.host, port: options.port },
      heartbeatMs: s.heartbeatMs,
      leaseMs: s.leaseMs,
      skewMarginMs: s.skewMarginMs,
      report: options.report,
      catchUp: async () => {
        await Promise.all([this.store.routesTailer.caughtUp(), this.transport.tailer.caughtUp()]);
      },
      onChange: () => {
        for (const listener of this.#leadershipListeners) listener();
      },
      logger: options.logger,
    });
    this.transactions = new FleetTransactionLog({ log: this.#log, topic: topics.transactions, lane: LANES.transactions, logger: options.logger });
    this.orphans = new OrphanResolver({
      self: this.member,
      now: () => performance.now(),
      isLive: (member) => this.membership.isLive(member),
      leaseMs: s.leaseMs,
      skewMarginMs: s.skewMarginMs,
      abortMove: (moveId) => this.store.abortMove(moveId, this.member),
      deliver: (message) => {
        options.logger.warn({ moveId: message.moveId, decision: message.type }, 'fleet: resolved a move whose coordinator is gone');
        this.transport.deliverLocally(message);
      },
    });
    this.transport = new KafkaMoveTransport({
      log: this.#log, topic: topics.moves, lane: LANES.moves, membership: this.membership, logger: options.logger,
      observe: (from, message) => this.orphans.seen(from, message),
    });
  }

  /** Creates the control topics if missing, reads them, joins with a first heartbeat. */
  async start(): Promise<void> {
    const t = controlTopics(this.#o.settings.topicPrefix);
    const specs: ControlTopicSpec[] = [
      // The route log is the history (audit, ledger): kept forever, never compacted (every record counts).
      { name: t.routes, cleanupPolicy: 'delete', retentionMs: -1 },
      // Move messages matter only while a move runs.
      { name: t.moves, cleanupPolicy: 'delete', retentionMs: 24 * 3_600_000 },
      { name: t.members, cleanupPolicy: 'compact', retentionMs: -1 },
      { name: t.producerIds, cleanupPolicy: 'compact', retentionMs: -1 },
      { name: t.transactions, cleanupPolicy: 'compact', retentionMs: -1 },
    ];
    await this.#log.ensureTopics(specs, this.#o.settings.replicationFactor);
    await this.store.load();
    await this.transactions.start();
    await this.transport.start();
    await this.membership.start();
    // A fenced member may only be cut off itself: it leaves orphans to the others (an abort is safe either way,
    // the route log decides, but it would fail a move whose live coordinator it cannot hear).
    this.#orphanTimer = setInterval(() => {
      if (!this.membership.isFenced()) this.orphans.tick();
    }, Math.max(50, Math.min(this.#o.settings.heartbeatMs, 500)));
    this.#orphanTimer.unref?.();
  }

  /** The live instances as brokers, by node id (the first is the controller on every member with the same view). */
  nodes(): ProxyNode[] {
    const live = this.membership.live();
    const key = live.join('\u0000');
    if (key !== this.#nodesKey || this.#nodes.length === 0) {
      const nodes = live.flatMap((m) => {
        const info = this.membership.info(m);
        return info === undefined ? [] : [{ nodeId: info.nodeId, host: info.host, port: info.port }];
      });
      if (!nodes.some((n) => n.nodeId === this.#self.nodeId)) nodes.push(this.#self);
      this.#nodes = nodes.sort((a, b) => a.nodeId - b.nodeId);
      this.#nodesKey = key;
    }
    return this.#nodes;
  }

  /**
   * Calls `listener` whenever partition leadership may have changed: the live set changed, or this instance
   * forwards again after it was fenced. Per-partition state built while leading (the sequence guard) is stale
   * then: another instance may have led the partition meanwhile.
   */
  onLeadershipChange(listener: () => void): void {
    this.#leadershipListeners.add(listener);
  }

  /** The node id leading (topic, partition): rendezvous over the live members. */
  leaderNodeOf(topic: string, partition: number): number {
    const leader = this.membership.leaderOf(topic, partition);
    if (leader === null) return this.#self.nodeId;
    return this.membership.info(leader)?.nodeId ?? this.#self.nodeId;
  }

  /**
   * The live member that owns a coordinator key (a transactional id, a group) by rendezvous over the live members
   * — the same function as partition leadership — and its broker node; null when no member is live.
   */
  keyOwner(key: string): { member: string; node: ProxyNode } | null {
    const live = this.membership.live();
    // live() returns the same array until the live set changes: the cache is valid exactly that long.
    if (live !== this.#ownersOf) {
      this.#ownersOf = live;
      this.#owners.clear();
    }
    let owner = this.#owners.get(key);
    if (owner === undefined) {
      owner = rendezvousOwner(live, key);
      if (this.#owners.size > 100_000) this.#owners.clear();
      this.#owners.set(key, owner);
    }
    if (owner === null) return null;
    if (owner === this.member) return { member: owner, node: this.#self };
    const info = this.membership.info(owner);
    return info === undefined ? null : { member: owner, node: { nodeId: info.nodeId, host: info.host, port: info.port } };
  }

  /**
   * The upstream producer for a mapping, the same on every instance: the one in the producer-id topic if any,
   * else a fresh one that is persisted before its first use (a retry through another instance then carries it).
   */
  async allocate(cluster: Cluster, key: MappingKey, fresh: () => Promise<UpstreamProducer>): Promise<UpstreamProducer> {
    const k = producerMappingKey({ ...key, cluster });
    const known = this.store.mapping(k);
    if (known !== undefined) return { producerId: known.upstreamProducerId, producerEpoch: known.upstreamEpoch };
    const p = await fresh();
    await this.store.appendProducerMapping({ ...key, cluster, upstreamProducerId: p.producerId, upstreamEpoch: p.producerEpoch });
    // Two instances may have allocated for one key at a handover: the first in the log wins on both.
    const winner = this.store.mapping(k);
    return winner === undefined ? p : { producerId: winner.upstreamProducerId, producerEpoch: winner.upstreamEpoch };
  }

  /** GET /v1/fleet. */
  view(local: { connections: number; inflight: number; appliedVersion: number }, partitions: readonly { topic: string; partition: number }[]): unknown {
    const led = new Map<string, number>();
    for (const p of partitions) {
      const leader = this.membership.leaderOf(p.topic, p.partition);
      if (leader !== null) led.set(leader, (led.get(leader) ?? 0) + 1);
    }
    return {
      member: this.member,
      clusterId: this.clusterId,
      fenced: this.membership.isFenced(),
      live: this.membership.live(),
      members: this.membership.view().map(({ info, leaseAgeMs, live }) => {
        const self = info.member === this.member;
        const fields: MemberInfo = self ? { ...info, ...local, fenced: this.membership.isFenced() } : info;
        return {
          member: fields.member,
          nodeId: fields.nodeId,
          address: `${fields.host}:${fields.port}`,
          live,
          self,
          leaseAgeMs: self ? 0 : leaseAgeMs,
          appliedVersion: fields.appliedVersion,
          connections: fields.connections,
          inflight: fields.inflight,
          fenced: fields.fenced,
          leaving: fields.leaving,
          partitionsLed: led.get(fields.member) ?? 0,
        };
      }),
    };
  }

  /** Rolling restart: announce leaving (partitions move at the others' next Metadata), then stop reading. */
  async leave(): Promise<void> {
    await this.membership.leave();
  }

  async close(): Promise<void> {
    if (this.#orphanTimer !== null) clearInterval(this.#orphanTimer);
    await this.membership.stop();
    await this.transport.stop();
    await this.transactions.stop();
    await this.store.close();
    this.#o.control.close();
  }
}
