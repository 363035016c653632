// The simulated network. Two kinds of links:
// - member ↔ control cluster: every poll and store call crosses it. Each leg has a random latency, may be lost
//   (`lossRate`), and is dropped while the member is cut off (`partition`). A lost leg is never retried here:
//   the callers retry (the next poll; the store's read-back), as Kafka clients do.
// - member ↔ data cluster (the Produce path): random latency bounded by `dataLatencyMs`; the response (not the
//   request) may be lost, which the member sees as a timeout with an unknown outcome. The bound matters: a
//   write sent just before a member fences itself must land before anyone may count the member gone, so
//   dataLatencyMs[1] must stay below 2 × skewMarginMs (routing/fleet/leases.ts); the kernel delivers what was
//   written to the socket even while the process is stopped.
// Reordering comes from the random latencies: two polls, or a poll and a write, can arrive in either order.

import type { Rng, Scheduler } from './scheduler.ts';

export interface NetworkOptions {
  readonly controlLatencyMs: readonly [number, number];
  readonly dataLatencyMs: readonly [number, number];
  readonly lossRate: number;
  readonly dataResponseLossRate: number;
}

export class Network {
  readonly #sched: Scheduler;
  readonly #rng: Rng;
  readonly o: NetworkOptions;
  /** Member names (not incarnations) cut off from the control cluster. */
  readonly cut = new Set<string>();
  lost = 0;

  constructor(sched: Scheduler, rng: Rng, options: NetworkOptions) {
    this.#sched = sched;
    this.#rng = rng;
    this.o = options;
  }

  #leg(): number {
    return this.#rng.int(this.o.controlLatencyMs[0], this.o.controlLatencyMs[1]);
  }

  #delivered(name: string): boolean {
    if (this.cut.has(name) || this.#rng.chance(this.o.lossRate)) {
      this.lost += 1;
      return false;
    }
    return true;
  }

  /**
   * A request from member `incarnation` (named `name`) to the control cluster and its response. `serve` runs on the
   * control cluster when the request arrives; `onResponse` runs as the member. Either leg may be lost.
   */
  toControl<T>(name: string, incarnation: string, serve: () => T, onResponse: (response: T) => void): void {
    if (!this.#delivered(name)) return;
    this.#sched.after('control', this.#leg(), () => {
      if (this.cut.has(name)) return;
      const response = serve();
      if (!this.#delivered(name)) return;
      this.#sched.after(incarnation, this.#leg(), () => {
        if (!this.cut.has(name)) onResponse(response);
      });
    });
  }

  dataLatency(): number {
    return this.#rng.int(this.o.dataLatencyMs[0], this.o.dataLatencyMs[1]);
  }

  dataResponseLost(): boolean {
    return this.#rng.chance(this.o.dataResponseLossRate);
  }
}
