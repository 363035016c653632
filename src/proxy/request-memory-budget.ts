// A budget for request bytes held by the proxy across every client connection (Kafka's
// `queued.max.request.bytes` is the model). A connection charges a frame's announced size as soon as the frame
// starts (before its bytes arrive: a peer that announces 100 MiB and trickles it in must not get to 100 MiB
// each over many connections), and releases it when the request is settled (answered, no answer due, or the
// connection closed).
//
// While the total is at or over the budget, connections stop reading at their next frame boundary; a connection
// in the middle of a frame goes on reading it, because its bytes are already charged and only finishing the
// frame can ever free them (pausing it could deadlock the budget). So the total stays below the budget plus the
// frames started just before it was reached.

export interface MemoryPressureListener {
  /** The budget was reached: stop reading at the next frame boundary. */
  onMemoryPressure(): void;
  /** Bytes were released and the total is below the budget again. */
  onMemoryAvailable(): void;
}

export class RequestMemoryBudget {
  readonly limitBytes: number;
  #used = 0;
  #over = false;
  readonly #listeners = new Set<MemoryPressureListener>();

  /** `limitBytes` 0 = no budget (charges are still counted, for the status page). */
  constructor(limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 0) throw new RangeError(`limitBytes must be a non-negative integer, got ${limitBytes}`);
    this.limitBytes = limitBytes;
  }

  /** Bytes charged now. */
  get usedBytes(): number {
    return this.#used;
  }

  /** True while the total is at or over the budget (new frames wait). */
  get exhausted(): boolean {
    return this.#over;
  }

  subscribe(listener: MemoryPressureListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  charge(bytes: number): void {
    if (bytes <= 0) return;
    this.#used += bytes;
    if (!this.#over && this.limitBytes > 0 && this.#used >= this.limitBytes) {
      this.#over = true;
      for (const l of [...this.#listeners]) l.onMemoryPressure();
    }
  }

  release(bytes: number): void {
    if (bytes <= 0) return;
    this.#used = Math.max(0, this.#used - bytes);
    if (this.#over && this.#used < this.limitBytes) {
      this.#over = false;
      for (const l of [...this.#listeners]) {
        l.onMemoryAvailable();
        // A resumed connection may have taken the budget again: the rest keep waiting.
        if (this.#over) break;
      }
    }
  }
}
