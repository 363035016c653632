// Per-cluster health, for /readyz, /v1/status and `kmp status`. "Answered Metadata once at start" is not health:
// a cluster that went away later must show as down, with the reason. Each cluster is probed on a timer (more
// often while it is down, so its return shows quickly) and at once when one of its broker connections drops.
import type { Logger } from 'pino';
import type { Cluster } from '../routing/cluster.ts';

export type ClusterHealthState = 'starting' | 'up' | 'down';

export interface ClusterHealthView {
  state: ClusterHealthState;
  /** When the cluster entered this state (ISO 8601). */
  since: string;
  /** Why it is down (the probe's error); null while up. */
  reason: string | null;
  /** Last successful probe (ISO 8601), null if none yet. */
  lastOkAt: string | null;
}

export interface ClusterHealthOptions {
  clusters: readonly Cluster[];
  /** Resolves when the cluster answered a request; rejects with the reason otherwise. */
  probe: (cluster: Cluster) => Promise<void>;
  /** Probe period while a cluster is up (default 5 s). */
  intervalMs?: number;
  /** Probe period while it is down or starting (default 1 s). */
  downIntervalMs?: number;
  /** A probe that takes longer counts as failed (default 5 s). */
  timeoutMs?: number;
  logger?: Logger;
  now?: () => number;
}

interface Entry {
  state: ClusterHealthState;
  since: number;
  reason: string | null;
  lastOkAt: number | null;
  probing: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

export class ClusterHealth {
  readonly #opts: ClusterHealthOptions;
  readonly #now: () => number;
  readonly #entries = new Map<Cluster, Entry>();
  #stopped = true;

  constructor(opts: ClusterHealthOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    for (const c of opts.clusters) this.#entries.set(c, { state: 'starting', since: this.#now(), reason: null, lastOkAt: null, probing: false, timer: null });
  }

  /** Probes every cluster now, then on the timer. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    for (const c of this.#entries.keys()) this.probeNow(c);
  }

  stop(): void {
    this.#stopped = true;
    for (const e of this.#entries.values()) {
      if (e.timer !== null) clearTimeout(e.timer);
      e.timer = null;
    }
  }

  /** A broker connection of the cluster changed state: probe now rather than at the next tick. */
  probeNow(cluster: Cluster): void {
    const e = this.#entries.get(cluster);
    if (e === undefined || e.probing || this.#stopped) return;
    if (e.timer !== null) clearTimeout(e.timer);
    e.timer = null;
    e.probing = true;
    void this.#probe(cluster).then(
      () => this.#record(cluster, e, null),
      (err: unknown) => this.#record(cluster, e, err instanceof Error ? err.message : String(err)),
    );
  }

  /** Resolves once every cluster has been probed at least once (or after `ms`). */
  async settled(ms: number): Promise<void> {
    const deadline = this.#now() + ms;
    while ([...this.#entries.values()].some((e) => e.state === 'starting') && this.#now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  state(cluster: Cluster): ClusterHealthState {
    return this.#entries.get(cluster)?.state ?? 'down';
  }

  view(): Record<string, ClusterHealthView> {
    const out: Record<string, ClusterHealthView> = {};
    for (const [c, e] of this.#entries) {
      out[c] = {
        state: e.state,
        since: new Date(e.since).toISOString(),
        reason: e.reason,
        lastOkAt: e.lastOkAt === null ? null : new Date(e.lastOkAt).toISOString(),
      };
    }
    return out;
  }

  async #probe(cluster: Cluster): Promise<void> {
    const timeoutMs = this.#opts.timeoutMs ?? 5_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.#opts.probe(cluster), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #record(cluster: Cluster, e: Entry, failure: string | null): void {
    e.probing = false;
    const now = this.#now();
    const state: ClusterHealthState = failure === null ? 'up' : 'down';
    if (failure === null) e.lastOkAt = now;
    if (state !== e.state) {
      const log = this.#opts.logger;
      if (state === 'down') log?.warn({ cluster, reason: failure }, 'cluster health: down');
      else log?.info({ cluster, downForMs: e.state === 'down' ? now - e.since : undefined }, 'cluster health: up');
      e.state = state;
      e.since = now;
    }
    e.reason = failure;
    if (this.#stopped) return;
    const next = state === 'up' ? (this.#opts.intervalMs ?? 5_000) : (this.#opts.downIntervalMs ?? 1_000);
    e.timer = setTimeout(() => this.probeNow(cluster), next);
    e.timer.unref();
  }
}

export interface Readiness {
  ready: boolean;
  /** ok: every cluster up; degraded: some cluster down but the proxy serves; down: it cannot serve. */
  status: 'ok' | 'degraded' | 'down' | 'starting' | 'stopping';
  /** Why not ok, one line each. */
  reasons: string[];
  clusters: Record<string, ClusterHealthView>;
}

/**
 * What /readyz answers (docs/admin-api.md): not ready while starting or shutting down, or when no cluster is up
 * (nothing could be served). A single cluster down leaves the proxy ready but degraded: it still serves every
 * topic routed to the other cluster and new producers still start, and since every instance sees the same
 * clusters, taking instances out of a load balancer for it would only turn a partial outage into a full one.
 * `requireAll` (/readyz?require=all) fails as soon as any cluster is not up, for monitors that want that.
 */
export function readinessOf(clusters: Record<string, ClusterHealthView>, opts: { stopping: boolean; requireAll: boolean }): Readiness {
  const entries = Object.entries(clusters);
  const reasons = entries
    .filter(([, v]) => v.state !== 'up')
    .map(([c, v]) => (v.state === 'starting' ? `${c}: not probed yet` : `${c}: down since ${v.since}: ${v.reason ?? 'unknown reason'}`));
  if (opts.stopping) return { ready: false, status: 'stopping', reasons: ['the proxy is shutting down', ...reasons], clusters };
  const up = entries.filter(([, v]) => v.state === 'up').length;
  if (up === entries.length) return { ready: true, status: 'ok', reasons, clusters };
  if (entries.every(([, v]) => v.state === 'starting')) return { ready: false, status: 'starting', reasons, clusters };
  if (up === 0) return { ready: false, status: 'down', reasons: ['no cluster is reachable', ...reasons], clusters };
  return { ready: !opts.requireAll, status: 'degraded', reasons, clusters };
}
