// One simulated schedule, from a seed: a fleet of members (member.ts), the control cluster, the two data
// clusters, clients writing through the fleet, an operator flipping waves through random members, and a fault
// injector (pauses, partitions from the control cluster, crashes with restart, the coordinating member killed
// mid-move, message loss and redelivery).
// Every random choice comes from one Rng seeded with `seed`, so a schedule replays exactly.
//
// Invariants, checked as they can first be broken (every forward, every append, after every step) and at the end:
//   stale-forward     a member forwards a write on a route other than the latest committed one
//   append-off-route  a cluster appends a write while the latest committed route of its partition is the other
//                     cluster (the ledger would not describe the partition's segments exactly)
//   interleaved       a partition's appends do not walk the committed route history in order (A, then B after the
//                     move to B, …): writes on the two clusters interleaved
//   ahead-of-store    a member installed a version the store has not committed
//   threw             the real code threw where it must not
//   lost / duplicated an acknowledged write is missing from the final logs, or there more than once
//   not-applied       at the end, a live member has not applied the latest committed version
//   stuck             at the end, a member still holds writes or a move, or a flip never finished

import type { Cluster } from '../../routing/cluster.ts';
import { partitionOwner } from '../../routing/fleet/rendezvous.ts';
import { applyChanges, emptyRouteState, type RouteAssignment } from '../../routing/route-state.ts';
import { compileRules } from '../../routing/rules.ts';
import { SwitchTable } from '../../routing/switch-table.ts';
import { ControlCluster } from './control-cluster.ts';
import { DataClusters } from './data-clusters.ts';
import { SimMember, type FleetRules, type World, type Write } from './member.ts';
import { Network } from './network.ts';
import { Rng, Scheduler } from './scheduler.ts';

export interface SimOptions {
  readonly seed: number;
  readonly members: number;
  /** Simulated ms of traffic, flips and faults; then everything heals and the fleet settles. */
  readonly activeMs: number;
  readonly settleMs: number;
  /** Mean gap between faults (ms); 0 = no faults. */
  readonly faultEveryMs: number;
  readonly lossRate: number;
  readonly fleet?: Partial<FleetRules>;
  /**
   * A scripted coordinator crash instead of the random operator: at this time m0 flips wave-a, and it is killed
   * (kill -9) as soon as every other member holds for the move. The report's stats give how long the survivors
   * held after the crash (coordinatorCrashReleaseMs, the slowest of them).
   */
  readonly coordinatorCrashAtMs?: number;
}

export interface Violation {
  readonly kind: string;
  readonly at: number;
  readonly detail: string;
}

export interface SimReport {
  readonly seed: number;
  readonly violations: readonly Violation[];
  readonly steps: number;
  readonly simulatedMs: number;
  readonly writes: number;
  readonly acked: number;
  readonly appends: number;
  readonly commits: number;
  readonly flips: Readonly<Record<string, number>>;
  readonly faults: Readonly<Record<string, number>>;
  readonly stats: Readonly<Record<string, number>>;
}

/** The schedule length the property test uses (replay.ts uses the same, so a printed seed replays exactly). */
export const DEFAULT_ACTIVE_MS = 6_000;
export const DEFAULT_SETTLE_MS = 12_000; // a restarted member may wait a lease + flip timeout on an orphaned prepare

export const DEFAULT_FLEET: FleetRules = {
  leaseMs: 2_000,
  skewMarginMs: 400,
  pollMs: 100,
  drainTimeoutMs: 1_500,
  flipTimeoutMs: 4_000,
  requestTimeoutMs: 1_000,
  storeTimeoutMs: 600,
  clusterErrorRate: 0.02,
  redeliveryRate: 0.03,
  fenceOnLease: true,
  checkFenceBeforeSend: true,
  newRouteGuard: true,
  newRouteWindowMs: 15_000, // above the clients' delivery timeout (12 s): no retry of a write from before a move outlives it
};

const WAVES = new Map<string, readonly string[]>([
  ['wave-a', ['orders']],
  ['wave-b', ['payments', 'refunds']],
]);
const TOPICS = [...WAVES.values()].flat();
const PARTITIONS = 2;
const CLIENT_LATENCY_MS: readonly [number, number] = [1, 5];
const CLIENT_TIMEOUT_MS = 3_000;
const CLIENT_BACKOFF_MS = 100;
/** Java's delivery.timeout.ms, scaled: after this a client gives up on a write (it was never acknowledged). */
const CLIENT_DELIVERY_TIMEOUT_MS = 12_000;

export async function simulate(options: SimOptions): Promise<SimReport> {
  const sched = new Scheduler();
  const rng = new Rng(options.seed);
  const fleet: FleetRules = { ...DEFAULT_FLEET, ...options.fleet };
  const rules = compileRules({
    default: 'source',
    batches: Object.fromEntries([...WAVES].map(([name, topics]) => [name, { topics: [...topics] }])),
  });
  const net = new Network(sched, rng, {
    controlLatencyMs: [1, 20],
    dataLatencyMs: [1, 30],
    lossRate: options.lossRate,
    dataResponseLossRate: options.lossRate / 2,
  });
  const control = new ControlCluster(rules);
  const data = new DataClusters();
  const violations: Violation[] = [];
  const stats: Record<string, number> = {};
  const faults: Record<string, number> = {};
  const flips: Record<string, number> = {};
  let moveIds = 0;
  /** Per partition: index into its committed route segments (see interleaved). */
  const segmentAt = new Map<string, number>();

  const fail = (kind: string, detail: string): void => {
    if (violations.length < 20) violations.push({ kind, at: sched.now, detail });
  };

  /** The committed route history of a topic: the cluster from each commit that changed it, with the commit time. */
  const previewTable = new SwitchTable(rules, emptyRouteState());
  const segmentCache = new Map<string, { versions: number; segs: { cluster: Cluster; at: number }[] }>();
  const segments = (topic: string): { cluster: Cluster; at: number }[] => {
    const cached = segmentCache.get(topic);
    if (cached !== undefined && cached.versions === control.history.length) return cached.segs;
    const segs: { cluster: Cluster; at: number }[] = [{ cluster: 'source', at: 0 }];
    let assignment: RouteAssignment = emptyRouteState();
    for (const h of control.history) {
      assignment = applyChanges(assignment, h.changes, h.version);
      const cluster = previewTable.preview(assignment).resolve(topic).cluster;
      if (cluster !== (segs[segs.length - 1] as { cluster: Cluster }).cluster) segs.push({ cluster, at: h.at });
    }
    segmentCache.set(topic, { versions: control.history.length, segs });
    return segs;
  };

  const world: World = {
    sched,
    rng,
    net,
    control,
    data,
    rules,
    fleet,
    waves: WAVES,
    partitions: PARTITIONS,
    stats,
    nextMoveId: () => `move-${++moveIds}`,
    fail,
    onForward(member, topic, partition, cluster) {
      const committed = control.truth.resolve(topic).cluster;
      if (committed !== cluster) {
        fail('stale-forward', `${member.id} forwarded ${topic}[${partition}] to ${cluster} at table version ${member.table.version}; committed version ${control.version} routes it to ${committed}`);
      }
    },
    onAppend(topic, partition, cluster, writeId) {
      const committed = control.truth.resolve(topic).cluster;
      if (committed !== cluster) {
        fail('append-off-route', `write ${writeId} appended to ${topic}[${partition}] on ${cluster} while committed version ${control.version} routes it to ${committed}`);
      }
      const key = `${topic}/${partition}`;
      const segs = segments(topic);
      let j = segmentAt.get(key) ?? 0;
      while (j < segs.length && ((segs[j] as { cluster: Cluster }).cluster !== cluster || (segs[j] as { at: number }).at > sched.now)) j += 1;
      if (j >= segs.length) {
        fail('interleaved', `write ${writeId} on ${cluster} for ${topic}[${partition}] does not follow the committed route history (${segs.map((s) => s.cluster).join(' → ')}) from segment ${segmentAt.get(key) ?? 0}`);
      } else {
        segmentAt.set(key, j);
      }
    },
  };

  // ── members ──
  const incarnations = new Map<string, number>();
  const current = new Map<string, SimMember>();
  const start = (name: string): void => {
    const n = (incarnations.get(name) ?? -1) + 1;
    incarnations.set(name, n);
    current.set(name, new SimMember(world, name, n, 1 + rng.int(-5, 5) / 1000));
  };
  const names = [...Array(options.members).keys()].map((i) => `m${i}`);
  for (const name of names) start(name);

  sched.afterStep = () => {
    watchCrash();
    for (const m of current.values()) {
      if (m.table.version > control.version) fail('ahead-of-store', `${m.id} is at version ${m.table.version}, the store at ${control.version}`);
    }
  };

  // ── clients ──
  const acked = new Set<number>();
  let writes = 0;
  const live = (): SimMember[] => [...current.values()].filter((m) => !sched.isCrashed(m.id));
  const produce = (w: Write, attempt: number, createdAt: number): void => {
    if (sched.now - createdAt > CLIENT_DELIVERY_TIMEOUT_MS) {
      stats.gaveUp = (stats.gaveUp ?? 0) + 1;
      return;
    }
    const members = live();
    if (members.length === 0) return;
    // Clients follow Metadata (rendezvous over the members they know); a stale view sends some elsewhere.
    const leader = partitionOwner(members.map((m) => m.name), w.topic, w.partition);
    const target = rng.chance(0.2) ? rng.pick(members) : (members.find((m) => m.name === leader) ?? rng.pick(members));
    let done = false;
    const retry = (): void => {
      if (done) return;
      done = true;
      stats.clientRetries = (stats.clientRetries ?? 0) + 1;
      sched.after('client', CLIENT_BACKOFF_MS, () => produce(w, attempt + 1, createdAt));
    };
    sched.after('client', CLIENT_TIMEOUT_MS, retry);
    sched.after(target.id, rng.int(...CLIENT_LATENCY_MS), () =>
      target.produce(w, (outcome) =>
        sched.after('client', rng.int(...CLIENT_LATENCY_MS), () => {
          if (done) return;
          if (outcome === 'ok') {
            done = true;
            acked.add(w.id);
          } else {
            retry();
          }
        }),
      ),
    );
  };
  const writeLoop = (): void => {
    if (sched.now > options.activeMs) return;
    const topic = rng.pick(TOPICS);
    const w: Write = { id: ++writes, topic, partition: rng.int(0, PARTITIONS - 1) };
    produce(w, 0, sched.now);
    sched.after('client', rng.int(5, 40), writeLoop);
  };
  sched.after('client', 50, writeLoop);

  // ── operator ──
  const pendingFlips = new Map<number, string>();
  let flipCount = 0;
  const flipLoop = (): void => {
    if (sched.now > options.activeMs) return;
    const via = rng.pick([...current.values()]);
    const wave = rng.pick([...WAVES.keys()]);
    const n = ++flipCount;
    pendingFlips.set(n, via.id);
    // A fault of its own: the member coordinating the flip is killed mid-move (between prepare and decision).
    if (options.faultEveryMs > 0 && rng.chance(0.1)) {
      faults['crash-coordinator'] = (faults['crash-coordinator'] ?? 0) + 1;
      sched.after('faults', rng.int(5, 600), () => {
        if (sched.isCrashed(via.id)) return;
        sched.crash(via.id);
        sched.after('faults', rng.int(200, 3_000), () => {
          if (current.get(via.name) === via) start(via.name);
        });
      });
    }
    sched.after(via.id, 0, () => {
      void via.flip(wave).then((outcome) => {
        pendingFlips.delete(n);
        const kind = outcome.startsWith('error') ? 'error' : outcome;
        flips[kind] = (flips[kind] ?? 0) + 1;
      });
    });
    sched.after('operator', rng.int(300, 1_500), flipLoop);
  };
  if (options.coordinatorCrashAtMs === undefined) sched.after('operator', 300, flipLoop);

  // ── the scripted coordinator crash ──
  let crashedAt: number | null = null;
  let lastRelease: number | null = null;
  let holders = 0;
  const survivors = (): SimMember[] => [...current.values()].filter((m) => m.name !== 'm0');
  if (options.coordinatorCrashAtMs !== undefined) {
    sched.after('operator', options.coordinatorCrashAtMs, () => {
      const m0 = current.get('m0') as SimMember;
      sched.after(m0.id, 0, () => {
        void m0.flip('wave-a');
      });
    });
  }
  const watchCrash = (): void => {
    if (options.coordinatorCrashAtMs === undefined) return;
    const m0 = current.get('m0') as SimMember;
    if (crashedAt === null) {
      if (survivors().every((m) => m.barrier.activeMoves().length > 0)) {
        holders = survivors().length;
        crashedAt = sched.now;
        sched.crash(m0.id);
      }
    } else if (lastRelease === null && survivors().every((m) => m.barrier.activeMoves().length === 0 && m.barrier.heldNow === 0)) {
      lastRelease = sched.now;
    }
  };

  // ── faults ──
  const lease = fleet.leaseMs + fleet.skewMarginMs;
  const duration = (): number => (rng.chance(0.5) ? rng.int(50, lease / 2) : rng.int(lease, lease * 2.5));
  const faultLoop = (): void => {
    if (options.faultEveryMs === 0 || sched.now > options.activeMs) return;
    const name = rng.pick(names);
    const m = current.get(name) as SimMember;
    const kind = rng.pick(['pause', 'pause', 'partition', 'partition', 'crash'] as const);
    faults[kind] = (faults[kind] ?? 0) + 1;
    if (kind === 'pause') {
      sched.pause(m.id);
      sched.after('faults', duration(), () => sched.resume(m.id));
    } else if (kind === 'partition') {
      net.cut.add(name);
      sched.after('faults', duration(), () => net.cut.delete(name));
    } else if (!sched.isCrashed(m.id)) {
      sched.crash(m.id);
      sched.after('faults', rng.int(200, 3_000), () => {
        if (current.get(name) === m) start(name);
      });
    }
    sched.after('faults', rng.int(options.faultEveryMs / 2, options.faultEveryMs * 1.5), faultLoop);
  };
  sched.after('faults', rng.int(200, 1_000), faultLoop);

  // ── run, heal, settle ──
  const onUnhandled = (reason: unknown): void => fail('threw', `unhandled rejection: ${String(reason)}`);
  process.on('unhandledRejection', onUnhandled);
  try {
    await sched.run(options.activeMs);
    for (const name of names) {
      net.cut.delete(name);
      const m = current.get(name) as SimMember;
      sched.resume(m.id);
      if (sched.isCrashed(m.id)) start(name);
    }
    faults.healed = 1;
    await sched.run(options.activeMs + options.settleMs);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }

  // ── final checks ──
  const count = new Map<number, number>();
  let appends = 0;
  for (const list of data.appends.values()) {
    for (const a of list) {
      appends += 1;
      count.set(a.writeId, (count.get(a.writeId) ?? 0) + 1);
    }
  }
  for (const id of acked) {
    const n = count.get(id) ?? 0;
    if (n === 0) fail('lost', `acknowledged write ${id} is in no log`);
    if (n > 1) {
      const where = [...data.appends.values()].flat().filter((a) => a.writeId === id).map((a) => `${a.cluster}@${a.at} by ${a.member} v${a.version}`);
      fail('duplicated', `acknowledged write ${id} is in the logs ${n} times: ${where.join(', ')}`);
    }
  }
  for (const [id, n] of count) if (n > 1 && !acked.has(id)) stats.unackedDuplicates = (stats.unackedDuplicates ?? 0) + 1;
  for (const m of current.values()) {
    if (m.table.version !== control.version) fail('not-applied', `${m.id} is at version ${m.table.version}, the store at ${control.version}`);
    if (m.barrier.heldNow > 0 || m.barrier.activeMoves().length > 0) {
      fail('stuck', `${m.id} still holds ${m.barrier.heldNow} writes in ${m.barrier.activeMoves().map((a) => `${a.label} (${a.phase})`).join(', ')}`);
    }
  }
  // A flip whose coordinator was killed never answers (the operator's request died with it): not a hang.
  const hung = [...pendingFlips.values()].filter((via) => !sched.isCrashed(via));
  if (hung.length > 0) {
    const waiting = [...current.values()].flatMap((m) => m.waitingFor());
    fail('stuck', `flip(s) through ${hung.join(', ')} never finished; waiting for: ${waiting.join('; ') || 'nothing tracked (store?)'}`);
  }
  stats.duplicatesAbsorbed = data.duplicatesAbsorbed;
  if (crashedAt !== null) {
    stats.coordinatorCrashHolders = holders;
    if (lastRelease !== null) stats.coordinatorCrashReleaseMs = lastRelease - crashedAt;
  }
  stats.messagesLost = net.lost;

  return {
    seed: options.seed,
    violations,
    steps: sched.steps,
    simulatedMs: sched.now,
    writes,
    acked: acked.size,
    appends,
    commits: control.version,
    flips,
    faults,
    stats,
  };
}
