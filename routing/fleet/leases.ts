// Fleet membership by leases, judged on each member's own monotonic clock — no clock agreement needed beyond the
// skew margin. Two rules, one per side:
// - a member counts another as live while it has heard a heartbeat from it within `leaseMs + skewMarginMs`
//   (measured from when *it received* the heartbeat, on its own clock);
// - a member counts *itself* as fenced (it stops forwarding Produce for partitions that could move without its
//   acknowledgement) once its last successful renewal is older than `leaseMs - skewMarginMs` on its own clock, so it
//   has stopped well before anyone else may count it gone.
// Between the two there are 2 × skewMarginMs of safety: a member that cannot renew stops forwarding before any
// coordinator commits a move without it. A member that has fenced itself resumes only after it has renewed again
// (and, in the fleet runtime, read the route log to its end).

export interface LeaseOptions {
  /** How long a heartbeat keeps a member live. */
  readonly leaseMs: number;
  /** Allowance for clock-rate drift and delivery delay between members. Must be < leaseMs / 2. */
  readonly skewMarginMs: number;
}

export function checkLeaseOptions(o: LeaseOptions): void {
  if (!(o.leaseMs > 0)) throw new RangeError(`leaseMs must be > 0, got ${o.leaseMs}`);
  if (!(o.skewMarginMs >= 0 && o.skewMarginMs * 2 < o.leaseMs)) {
    throw new RangeError(`skewMarginMs must be >= 0 and below leaseMs / 2 (${o.leaseMs / 2}), got ${o.skewMarginMs}`);
  }
}

/** What one member knows of the others' heartbeats, on its own clock. */
export class LeaseTable {
  readonly #o: LeaseOptions;
  readonly #heardAt = new Map<string, number>();
  readonly #left = new Set<string>();

  constructor(options: LeaseOptions) {
    checkLeaseOptions(options);
    this.#o = options;
  }

  /** A heartbeat of `member` was received at local time `now`. */
  heard(member: string, now: number): void {
    this.#heardAt.set(member, Math.max(now, this.#heardAt.get(member) ?? -Infinity));
    this.#left.delete(member);
  }

  /** `member` announced that it leaves (rolling restart): gone at once, no lease wait. */
  left(member: string): void {
    this.#left.add(member);
    this.#heardAt.delete(member);
  }

  /** Live at local time `now`: heard within leaseMs + skewMarginMs, and not left. */
  isLive(member: string, now: number): boolean {
    const at = this.#heardAt.get(member);
    return at !== undefined && !this.#left.has(member) && now - at < this.#o.leaseMs + this.#o.skewMarginMs;
  }

  /** Every live member at `now`, sorted (the input of rendezvous hashing). */
  live(now: number): string[] {
    return [...this.#heardAt.keys()].filter((m) => this.isLive(m, now)).sort();
  }

  /** Local time after which `member` counts as gone (if nothing more is heard), or null if unknown. */
  goneAfter(member: string): number | null {
    const at = this.#heardAt.get(member);
    return at === undefined ? null : at + this.#o.leaseMs + this.#o.skewMarginMs;
  }
}

/** One member's view of its own lease. */
export class OwnLease {
  readonly #o: LeaseOptions;
  #renewedAt: number | null = null;

  constructor(options: LeaseOptions) {
    checkLeaseOptions(options);
    this.#o = options;
  }

  /** A renewal was durably written (and acknowledged) at local time `now`. Only the send time may be used: pass the time the renewal was *sent*. */
  renewed(sentAt: number): void {
    this.#renewedAt = Math.max(sentAt, this.#renewedAt ?? -Infinity);
  }

  /** Fenced at `now`: never renewed, or the last renewal is older than leaseMs - skewMarginMs. */
  isFenced(now: number): boolean {
    return this.#renewedAt === null || now - this.#renewedAt >= this.#o.leaseMs - this.#o.skewMarginMs;
  }

  /** Local time at which this member fences itself unless it renews again. */
  fencesAt(): number | null {
    return this.#renewedAt === null ? null : this.#renewedAt + this.#o.leaseMs - this.#o.skewMarginMs;
  }
}
