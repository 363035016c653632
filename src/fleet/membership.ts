// Fleet membership: every instance appends a heartbeat to `<prefix>.members` (compacted, keyed by member id)
// every heartbeatMs and reads everyone's. Liveness and self-fencing follow the two lease rules of
// routing/fleet/leases.ts on this member's own monotonic clock. A member that leaves (SIGTERM, rolling restart)
// writes a last record with `leaving: true`, so the others drop it at once instead of after a lease.
//
// Self-fencing: once this member's last acknowledged heartbeat is older than lease − margin, it stops forwarding
// Produce (leadership-concern.ts). It un-fences only after a heartbeat is acknowledged again *and* it has read the
// route log and the move log to their ends — so it cannot forward on a route the fleet has replaced meanwhile.
import type { Logger } from 'pino';
import { LeaseTable, OwnLease, type LeaseOptions } from '../../routing/fleet/leases.ts';
import { partitionOwner } from '../../routing/fleet/rendezvous.ts';
import type { ControlLogPort } from './control-log.ts';
import type { ReadRecord } from './control-records.ts';
import { LogTailer } from './log-tailer.ts';

/** What a member tells the others about itself (and /v1/fleet shows). */
export interface MemberInfo {
  readonly member: string;
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  /** The route table version it has applied. */
  readonly appliedVersion: number;
  readonly connections: number;
  readonly inflight: number;
  readonly fenced: boolean;
  readonly leaving: boolean;
  /** The member's wall clock when it sent this (for display only; liveness uses the reader's clock). */
  readonly sentAt: number;
}

export interface MembershipOptions extends LeaseOptions {
  readonly log: ControlLogPort;
  readonly topic: string;
  readonly lane: number;
  readonly self: Omit<MemberInfo, 'appliedVersion' | 'connections' | 'inflight' | 'fenced' | 'leaving' | 'sentAt'>;
  readonly heartbeatMs: number;
  /** The facts of the moment for the heartbeat. */
  readonly report: () => Pick<MemberInfo, 'appliedVersion' | 'connections' | 'inflight'>;
  /** Reads the route and move logs to their ends (un-fencing waits for it). */
  readonly catchUp: () => Promise<void>;
  readonly logger: Logger;
  readonly now?: () => number;
  /**
   * Called when leadership may have changed: the live set changed, or this member forwards again after it was
   * fenced (meanwhile the others may have counted it gone and led its partitions, whatever its live set shows).
   */
  readonly onChange?: () => void;
}

export class Membership {
  readonly self: string;
  readonly #o: MembershipOptions;
  readonly #leases: LeaseTable;
  readonly #own: OwnLease;
  readonly #now: () => number;
  readonly #tailer: LogTailer;
  readonly #info = new Map<string, { info: MemberInfo; heardAt: number }>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  /** True from start and from any moment the lease lapsed, until a renewal *and* a catch-up succeed. */
  #mustCatchUp = true;
  #liveKey = '';
  #live: string[] = [];
  #leaderCache = new Map<string, string | null>();

  constructor(options: MembershipOptions) {
    this.#o = options;
    this.self = options.self.member;
    this.#leases = new LeaseTable(options);
    this.#own = new OwnLease(options);
    this.#now = options.now ?? (() => performance.now());
    this.#tailer = new LogTailer({ log: options.log, topic: options.topic, lane: options.lane, logger: options.logger, apply: (r) => this.#heard(r) });
  }

  async start(): Promise<void> {
    await this.#tailer.start();
    await this.#beat();
    this.#schedule();
  }

  /** Fenced now: no acknowledged heartbeat within lease − margin, or not caught up since. */
  isFenced(): boolean {
    const now = this.#now();
    if (this.#own.isFenced(now)) {
      this.#mustCatchUp = true;
      return true;
    }
    return this.#mustCatchUp;
  }

  /** Live members now (sorted), as this member sees them. */
  live(): string[] {
    const live = this.#leases.live(this.#now());
    const key = live.join('\u0000');
    if (key !== this.#liveKey) {
      this.#liveKey = key;
      this.#live = live;
      this.#leaderCache = new Map();
      this.#o.onChange?.();
    }
    return this.#live;
  }

  isLive(member: string): boolean {
    return this.#leases.isLive(member, this.#now());
  }

  /** The member leading (topic, partition) among the live ones; cached until the live set changes. */
  leaderOf(topic: string, partition: number): string | null {
    const live = this.live();
    const key = `${topic}\u0000${partition}`;
    let leader = this.#leaderCache.get(key);
    if (leader === undefined) {
      leader = partitionOwner(live, topic, partition);
      if (this.#leaderCache.size > 100_000) this.#leaderCache.clear();
      this.#leaderCache.set(key, leader);
    }
    return leader;
  }

  info(member: string): MemberInfo | undefined {
    return this.#info.get(member)?.info;
  }

  /** Every member heard of, with its lease age on this member's clock. */
  view(): { info: MemberInfo; leaseAgeMs: number; live: boolean }[] {
    const now = this.#now();
    return [...this.#info.values()]
      .map(({ info, heardAt }) => ({ info, leaseAgeMs: Math.round(now - heardAt), live: this.#leases.isLive(info.member, now) }))
      .sort((a, b) => a.info.member.localeCompare(b.info.member));
  }

  /** Leaves the fleet: a last heartbeat with `leaving`, so the others move this member's partitions at once. */
  async leave(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#o.log.append(this.#o.topic, [{ key: this.self, value: JSON.stringify(this.#record(true)) }]).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#tailer.stop();
  }

  #record(leaving: boolean): MemberInfo {
    return { ...this.#o.self, ...this.#o.report(), fenced: this.isFenced(), leaving, sentAt: Date.now() };
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.#beat().finally(() => this.#schedule());
    }, this.#o.heartbeatMs);
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    const sentAt = this.#now();
    try {
      const offset = await this.#o.log.append(this.#o.topic, [{ key: this.self, value: JSON.stringify(this.#record(false)) }]);
      if (this.#own.isFenced(this.#now())) this.#mustCatchUp = true;
      if (this.#mustCatchUp) {
        await this.#o.catchUp();
        await this.#tailer.readTo(offset);
        this.#mustCatchUp = false;
        this.#o.onChange?.();
        this.#o.logger.info({ member: this.self }, 'fleet: lease held and logs read to their ends; forwarding');
      }
      this.#own.renewed(sentAt);
    } catch (error) {
      this.#o.logger.warn({ member: this.self, err: error instanceof Error ? error.message : String(error) }, 'fleet: heartbeat failed');
    }
  }

  #heard(r: ReadRecord): void {
    if (r.key === null) return;
    if (r.value === null) {
      this.#leases.left(r.key);
      this.#info.delete(r.key);
      return;
    }
    const info = JSON.parse(r.value) as MemberInfo;
    // History read at start: a heartbeat older than a lease (by its write time) is of a member long gone.
    if (Date.now() - r.timestamp > this.#o.leaseMs) {
      this.#info.set(info.member, { info, heardAt: -Infinity });
      return;
    }
    const now = this.#now();
    this.#info.set(info.member, { info, heardAt: now });
    if (info.leaving) this.#leases.left(info.member);
    else this.#leases.heard(info.member, now);
  }
}
