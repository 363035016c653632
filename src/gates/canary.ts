// Canary flip (issue #15 item 5, docs/gates.md): `kmp flip WAVE --canary T[,T] --watch 60s --max-error-rate 0.1%
// --max-p99-ms N`. The control plane flips batches and single topics, so the canary topics are flipped one by one
// (topic flips: each with its own barrier, pre-flight and audit entry); then their produce figures on the new
// cluster are watched (topic-evidence.ts: exactly the writes since the flip). A breach of a rule rolls the canary
// topics back at once — the rollback's audit reason carries the figures that broke the rule — and the wave stays
// where it was. Otherwise, after the watch, the whole wave is flipped (its batch flip drops the canary topics'
// overrides: they belong to the wave again).
// Before anything moves, the wave's flip is dry-run: a wave that would be refused is refused now, not after a
// minute of canary.
import type { Logger } from 'pino';
import type { Cluster } from '../../routing/cluster.ts';
import { RouteConflictError, ValidationError, errorMessage } from '../../routing/errors.ts';
import type { AdminControlPlane, OperationResult, WriteOptions } from '../admin/control-plane-port.ts';
import { sumHistograms } from './latency-histogram.ts';
import type { OperationRegistry } from './operation-registry.ts';
import { windowBetween, type EvidenceSnapshot, type WindowFigures } from './topic-evidence.ts';

export interface CanaryRules {
  readonly topics: readonly string[];
  readonly watchMs: number;
  /** Largest tolerated share of failed writes, 0..1 (0.001 = 0.1 %). */
  readonly maxErrorRate: number;
  /** Largest tolerated p99 produce latency on the new cluster; no latency rule when absent. */
  readonly maxP99Ms?: number;
  /** The p99 rule is judged before the end of the watch only once this many writes were seen. Default 20. */
  readonly minWritesForLatency?: number;
}

export type CanaryPhase = 'flipping-canary' | 'watching' | 'rolling-back' | 'rolled-back' | 'flipping-wave' | 'done' | 'failed';

export interface CanaryView {
  readonly id: string;
  readonly kind: 'canary-flip';
  readonly wave: string;
  readonly who: string;
  readonly reason: string;
  readonly phase: CanaryPhase;
  readonly rules: CanaryRules;
  readonly startedAt: string;
  readonly updatedAt: string;
  /** ms watched so far (of rules.watchMs). */
  readonly watchedMs: number;
  /** Figures on the new cluster since each canary topic's flip, and over all of them. */
  readonly figures: { readonly total: WindowFigures | null; readonly topics: Readonly<Record<string, WindowFigures>> };
  readonly breach: string | null;
  readonly warnings: readonly string[];
  readonly steps: readonly { readonly at: string; readonly what: string }[];
  readonly waveFlip: { readonly version: number; readonly topics: readonly string[]; readonly holdMs: number | null } | null;
  readonly error: string | null;
}

export interface CanaryDeps {
  readonly controlPlane: Pick<AdminControlPlane, 'flipTopic' | 'rollbackTopic' | 'flipBatch' | 'resolve'>;
  readonly evidence: { snapshot(topic: string, cluster: Cluster): EvidenceSnapshot };
  readonly registry: OperationRegistry<CanaryView>;
  readonly log: Logger;
  /** How often the figures are judged. Default 1000 ms. */
  readonly tickMs?: number;
  /** Attempts of the canary rollback (an in-doubt write aborts a move; the next attempt usually passes). Default 5. */
  readonly rollbackAttempts?: number;
}

const pct = (r: number | null): string => (r === null ? '-' : `${Math.round(r * 10_000) / 100}%`);

/** Checks the rules against the figures; the sentence that explains a breach, or null. */
export function judge(rules: CanaryRules, total: WindowFigures, final: boolean): string | null {
  if (total.writes > 0 && total.errorRate !== null && total.errorRate > rules.maxErrorRate) {
    const names = Object.entries(total.errors).map(([n, c]) => `${n} x${c}`).join(', ');
    return `error rate ${pct(total.errorRate)} (${total.failed} of ${total.writes} writes failed${names === '' ? '' : `: ${names}`}) > max ${pct(rules.maxErrorRate)}`;
  }
  const enough = total.writes >= (rules.minWritesForLatency ?? 20) || (final && total.writes > 0);
  if (rules.maxP99Ms !== undefined && enough && total.p99Ms !== null && total.p99Ms > rules.maxP99Ms) {
    return `p99 produce latency ${total.p99Ms} ms over ${total.writes} writes > max ${rules.maxP99Ms} ms`;
  }
  return null;
}

export class CanaryRunner {
  readonly #d: CanaryDeps;
  readonly #runningWaves = new Set<string>();

  constructor(deps: CanaryDeps) {
    this.#d = deps;
  }

  /**
   * Validates, dry-runs the wave's flip and starts the canary; resolves with the operation's first view (the
   * caller polls `registry.get(id)`). Throws 400 for bad rules or topics outside the wave, 409 for a wave already
   * running a canary, a canary topic already moved, or a wave flip the pre-flight would refuse (unless force).
   */
  async start(wave: string, rules: CanaryRules, options: WriteOptions): Promise<CanaryView | OperationResult> {
    const cp = this.#d.controlPlane;
    if (rules.topics.length === 0) throw new ValidationError('canary.topics: at least one topic');
    if (!(rules.watchMs > 0)) throw new ValidationError('canary.watchMs: must be positive');
    if (!(rules.maxErrorRate >= 0 && rules.maxErrorRate <= 1)) throw new ValidationError('canary.maxErrorRate: a fraction between 0 and 1');
    for (const topic of rules.topics) {
      const r = cp.resolve(topic);
      if (r.batch !== wave) throw new ValidationError(`canary topic "${topic}" is not in wave "${wave}" (${r.batch === null ? 'no batch' : `batch "${r.batch}"`})`);
      if (r.cluster === 'target') throw new RouteConflictError(`canary topic "${topic}" is already on the target; roll it back first or flip the wave without a canary`);
    }
    if (this.#runningWaves.has(wave)) throw new RouteConflictError(`a canary flip of wave "${wave}" is already running`);
    // The wave flip's own checks first (plan, pre-flight): refused now rather than after the watch.
    const dry = await cp.flipBatch(wave, { ...options, dryRun: true });
    if (options.dryRun === true) return dry;
    if (dry.refusals.length > 0 && options.force !== true) {
      throw new RouteConflictError(`canary flip of wave "${wave}" refused by the wave's pre-flight: ${dry.refusals.join('; ')}. Fix them, or repeat with force=true.`, dry.refusals);
    }
    const op = new CanaryOperation(this.#d, this.#d.registry.newId(), wave, rules, options);
    this.#d.registry.add(op);
    this.#runningWaves.add(wave);
    op.run().finally(() => this.#runningWaves.delete(wave));
    return op.view();
  }
}

class CanaryOperation {
  readonly id: string;
  readonly #d: CanaryDeps;
  readonly #wave: string;
  readonly #rules: CanaryRules;
  readonly #options: WriteOptions;
  readonly #startedAt = Date.now();
  #updatedAt = Date.now();
  #phase: CanaryPhase = 'flipping-canary';
  #watchStart: number | null = null;
  #watchEnd: number | null = null;
  #figures: CanaryView['figures'] = { total: null, topics: {} };
  #breach: string | null = null;
  #error: string | null = null;
  #waveFlip: CanaryView['waveFlip'] = null;
  readonly #warnings: string[] = [];
  readonly #steps: { at: string; what: string }[] = [];

  constructor(deps: CanaryDeps, id: string, wave: string, rules: CanaryRules, options: WriteOptions) {
    this.#d = deps;
    this.id = id;
    this.#wave = wave;
    this.#rules = rules;
    this.#options = options;
  }

  get finished(): boolean {
    return this.#phase === 'done' || this.#phase === 'rolled-back' || this.#phase === 'failed';
  }

  view(): CanaryView {
    const watchedMs = this.#watchStart === null ? 0 : (this.#watchEnd ?? Date.now()) - this.#watchStart;
    return {
      id: this.id, kind: 'canary-flip', wave: this.#wave, who: this.#options.who, reason: this.#options.reason ?? '', phase: this.#phase, rules: this.#rules,
      startedAt: new Date(this.#startedAt).toISOString(), updatedAt: new Date(this.#updatedAt).toISOString(), watchedMs: Math.min(watchedMs, this.#rules.watchMs),
      figures: this.#figures, breach: this.#breach, warnings: [...this.#warnings], steps: [...this.#steps], waveFlip: this.#waveFlip, error: this.#error,
    };
  }

  #step(phase: CanaryPhase | null, what: string): void {
    if (phase !== null) this.#phase = phase;
    this.#updatedAt = Date.now();
    this.#steps.push({ at: new Date(this.#updatedAt).toISOString(), what });
    this.#d.log.info({ event: 'canary', operation: this.id, wave: this.#wave, phase: this.#phase }, `canary ${this.id}: ${what}`);
  }

  async run(): Promise<void> {
    const cp = this.#d.controlPlane;
    const base = { who: this.#options.who, ...(this.#options.force === true ? { force: true } : {}) };
    const why = this.#options.reason ? ` — ${this.#options.reason}` : '';
    const flipped: string[] = [];
    const baselines = new Map<string, EvidenceSnapshot>();
    try {
      for (const topic of this.#rules.topics) {
        await cp.flipTopic(topic, { ...base, reason: `canary ${this.id} of wave ${this.#wave}${why}` });
        flipped.push(topic);
        baselines.set(topic, this.#d.evidence.snapshot(topic, 'target'));
        this.#step(null, `flipped canary topic ${topic} to the target`);
      }
    } catch (err) {
      this.#error = `canary flip failed: ${errorMessage(err)}`;
      this.#step(null, this.#error);
      await this.#rollback(flipped, `canary ${this.id}: the canary flip failed (${errorMessage(err)})`);
      this.#step('failed', 'stopped: the canary flip failed');
      return;
    }

    this.#watchStart = Date.now();
    this.#step('watching', `watching ${flipped.join(', ')} for ${Math.round(this.#rules.watchMs / 1000)} s`);
    const tickMs = this.#d.tickMs ?? 1000;
    for (;;) {
      const elapsed = Date.now() - this.#watchStart;
      const final = elapsed >= this.#rules.watchMs;
      const total = this.#measure(baselines);
      this.#updatedAt = Date.now();
      const breach = judge(this.#rules, total, final);
      if (breach !== null) {
        this.#watchEnd = Date.now();
        this.#breach = breach;
        this.#step('rolling-back', `breach after ${Math.round(elapsed / 100) / 10} s: ${breach}`);
        const ok = await this.#rollback(flipped, `canary ${this.id} of wave ${this.#wave} rolled back automatically: ${breach}; ${figuresLine(this.#figures)}`);
        this.#step(ok ? 'rolled-back' : 'failed', ok ? 'canary topics rolled back to the source; the wave did not move' : 'the rollback failed: roll the canary topics back by hand');
        return;
      }
      if (final) break;
      await new Promise((r) => setTimeout(r, Math.min(tickMs, this.#rules.watchMs - elapsed)));
    }
    this.#watchEnd = Date.now();
    if ((this.#figures.total?.writes ?? 0) === 0) this.#warnings.push('no produce traffic reached the canary topics during the watch: the canary gave no evidence');
    this.#step('flipping-wave', `canary healthy (${figuresLine(this.#figures)}); flipping wave ${this.#wave}`);
    try {
      const result = await cp.flipBatch(this.#wave, { ...base, reason: `canary ${this.id} passed (${figuresLine(this.#figures)})${why}` });
      this.#waveFlip = { version: result.version, topics: result.move?.topics ?? [], holdMs: result.timings?.holdMs ?? null };
      this.#step('done', `wave ${this.#wave} flipped to the target (table version ${result.version})`);
    } catch (err) {
      this.#error = `wave flip failed: ${errorMessage(err)}`;
      this.#step('failed', `${this.#error}; the canary topics stay on the target`);
    }
  }

  #measure(baselines: ReadonlyMap<string, EvidenceSnapshot>): WindowFigures {
    const topics: Record<string, WindowFigures> = {};
    const latencies = [];
    const errors: Record<string, number> = {};
    let writes = 0;
    let failed = 0;
    let records = 0;
    let seconds = 0;
    for (const [topic, before] of baselines) {
      const now = this.#d.evidence.snapshot(topic, 'target');
      const w = windowBetween(before, now);
      topics[topic] = w;
      latencies.push(now.latency.since(before.latency));
      writes += w.writes;
      failed += w.failed;
      records += w.records;
      seconds = Math.max(seconds, w.seconds);
      for (const [n, c] of Object.entries(w.errors)) errors[n] = (errors[n] ?? 0) + c;
    }
    const merged = sumHistograms(latencies);
    const total: WindowFigures = {
      seconds, writes, failed, records, errorRate: writes === 0 ? null : failed / writes, p50Ms: merged.quantile(0.5), p99Ms: merged.quantile(0.99), errors,
      recordsPerSec: seconds > 0 ? Math.round((records / seconds) * 10) / 10 : 0,
    };
    this.#figures = { total, topics };
    return total;
  }

  /** Rolls the flipped canary topics back, retrying a move aborted by an in-doubt write. */
  async #rollback(topics: readonly string[], reason: string): Promise<boolean> {
    let ok = true;
    for (const topic of topics) {
      const attempts = this.#d.rollbackAttempts ?? 5;
      for (let i = 1; ; i++) {
        try {
          await this.#d.controlPlane.rollbackTopic(topic, { who: this.#options.who, reason });
          this.#step(null, `rolled back canary topic ${topic}`);
          break;
        } catch (err) {
          if (i >= attempts) {
            ok = false;
            this.#error = `rollback of ${topic} failed: ${errorMessage(err)}`;
            this.#step(null, this.#error);
            break;
          }
          await new Promise((r) => setTimeout(r, 500 * i));
        }
      }
    }
    return ok;
  }
}

function figuresLine(f: CanaryView['figures']): string {
  const t = f.total;
  if (t === null) return 'no figures';
  return `${t.writes} writes, ${t.failed} failed (${pct(t.errorRate)}), p50 ${t.p50Ms ?? '-'} ms, p99 ${t.p99Ms ?? '-'} ms over ${t.seconds} s`;
}
