// The promotion gate (issue #15 item 4, docs/gates.md): `promote` makes the target authoritative, after which
// going back is a reconciliation. It is refused while the old cluster still shows signs of life for the wave:
// - "bypass": writes kmp did not make were seen on the old cluster's partitions of the wave in the last window;
// - "open-transactions": DescribeProducers shows a transaction open there (currentTxnStartOffset >= 0): it would
//   become a hanging transaction once nobody watches that side.
// The gate is a list of named checks; other parts (write-back lag, consumer groups still reading the source) add
// theirs with add(). Each refusal names its check. The control plane runs the gate as promote's pre-flight, so
// `force` overrides it and the audit records the overridden refusals (routing/write-pipeline.ts).
import type { Cluster } from '../../routing/cluster.ts';
import type { PreflightResult } from '../../routing/control-plane.ts';
import type { BypassDetector } from './bypass-detector.ts';
import { activeProducers, type ProbeCluster } from './partition-probe.ts';

export interface PromotionSubject {
  readonly wave: string;
  /** Topics of the wave (routed to `newCluster`). */
  readonly topics: readonly string[];
  /** The cluster the wave left, whose partitions the checks look at. */
  readonly oldCluster: Cluster;
  readonly newCluster: Cluster;
}

export interface PromotionCheck {
  /** Named in every refusal: "bypass: …". */
  readonly name: string;
  run(subject: PromotionSubject): Promise<PreflightResult> | PreflightResult;
}

export interface PromotionCheckResult extends PreflightResult {
  readonly name: string;
  readonly ms: number;
}

export class PromotionGate {
  readonly #checks: PromotionCheck[] = [];

  add(check: PromotionCheck): void {
    if (this.#checks.some((c) => c.name === check.name)) throw new Error(`promotion gate: a check named "${check.name}" is already registered`);
    this.#checks.push(check);
  }

  get names(): readonly string[] {
    return this.#checks.map((c) => c.name);
  }

  /** Every check, in parallel. A check that throws refuses (the gate fails closed) with what it threw. */
  async evaluate(subject: PromotionSubject): Promise<{ refusals: string[]; warnings: string[]; checks: PromotionCheckResult[] }> {
    const checks = await Promise.all(this.#checks.map(async (c): Promise<PromotionCheckResult> => {
      const started = performance.now();
      try {
        const r = await c.run(subject);
        return { name: c.name, refusals: r.refusals, warnings: r.warnings, ms: Math.round(performance.now() - started) };
      } catch (err) {
        return { name: c.name, refusals: [`could not run: ${err instanceof Error ? err.message : String(err)}`], warnings: [], ms: Math.round(performance.now() - started) };
      }
    }));
    return {
      refusals: checks.flatMap((c) => c.refusals.map((r) => `${c.name}: ${r}`)),
      warnings: checks.flatMap((c) => c.warnings.map((w) => `${c.name}: ${w}`)),
      checks,
    };
  }
}

/** Refuses while bypass writes were seen on the wave's topics within `windowMs` (after a fresh check). */
export function bypassCheck(detector: BypassDetector, windowMs: number): PromotionCheck {
  return {
    name: 'bypass',
    async run(subject) {
      await detector.check();
      const seen = detector.seenWithin(windowMs, subject.topics);
      return {
        refusals: seen.map((b) => {
          const who = [b.producerIds.length > 0 ? `producer ids ${b.producerIds.join(', ')}` : '', b.unattributed ? 'a producer without an id' : ''].filter((s) => s !== '').join(' and ');
          return `${b.topic}: ${b.offsets} offsets written straight to the ${b.cluster} cluster (partitions ${b.partitions.join(', ')}) by ${who}, last at ${b.lastSeen}; move those producers to kmp and wait ${Math.round(windowMs / 1000)} s`;
        }),
        warnings: [],
      };
    },
  };
}

/** Refuses while a transaction is open on the old cluster's partitions of the wave (DescribeProducers). */
export function openTransactionsCheck(clusters: Record<Cluster, ProbeCluster>): PromotionCheck {
  return {
    name: 'open-transactions',
    async run(subject) {
      const client = clusters[subject.oldCluster];
      const wanted: { topic: string; partitions: number[] }[] = [];
      const warnings: string[] = [];
      for (const topic of subject.topics) {
        const meta = await client.topic(topic, { refresh: true });
        if (meta.partitions.length === 0) continue; // not on the old cluster: nothing can be open there
        wanted.push({ topic, partitions: meta.partitions.map((p) => p.partition) });
      }
      const refusals: string[] = [];
      for (const r of await activeProducers(client, wanted)) {
        if (r.value === null) {
          refusals.push(`${r.topic}-${r.partition}: cannot tell whether a transaction is open (${r.error ?? 'unreadable'})`);
          continue;
        }
        for (const p of r.value) {
          if (p.currentTxnStartOffset >= 0n) {
            refusals.push(`${r.topic}-${r.partition}: producer id ${p.producerId} (epoch ${p.producerEpoch}) has a transaction open on the ${subject.oldCluster} cluster since offset ${p.currentTxnStartOffset}; let it commit or abort first`);
          }
        }
      }
      return { refusals, warnings };
    },
  };
}
