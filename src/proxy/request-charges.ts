// What one client connection holds of the process-wide request-bytes budget (request-memory-budget.ts): a frame is
// charged its whole announced size as soon as its first bytes arrive (so a slow sender cannot hold memory the
// budget does not see), and that charge moves to the request once the frame is complete; it is released when
// the request is settled (answered, dropped) or the connection closes, exactly once either way.
import type { RequestMemoryBudget } from './request-memory-budget.ts';

/** Bytes of one request charged to the memory budget until the request is settled. */
export interface Charge {
  bytes: number;
  released: boolean;
}

export class RequestCharges {
  readonly #memory: RequestMemoryBudget | undefined;
  readonly #charges = new Set<Charge>();
  /** The announced size of the frame being assembled, charged to the memory budget. */
  #partial = 0;

  constructor(memory: RequestMemoryBudget | undefined) {
    this.#memory = memory;
  }

  /**
   * The frames one chunk completed, each with its charge (the first one takes over the charge of the frame that
   * was being assembled, if any); then the frame this chunk started and left incomplete (`pendingFrameSize`
   * bytes announced) is charged whole.
   */
  chargeFrames(frames: readonly Buffer[], pendingFrameSize: number): Charge[] {
    const carried = this.#partial;
    const charges = frames.map((frame, i): Charge => {
      const transferred = i === 0 && carried > 0;
      const charge: Charge = { bytes: transferred ? carried : frame.length, released: false };
      this.#charges.add(charge);
      if (!transferred) this.#memory?.charge(charge.bytes);
      return charge;
    });
    if (carried === 0 || frames.length > 0) {
      this.#partial = pendingFrameSize;
      this.#memory?.charge(this.#partial);
    }
    return charges;
  }

  release(charge: Charge): void {
    if (charge.released) return;
    charge.released = true;
    this.#charges.delete(charge);
    this.#memory?.release(charge.bytes);
  }

  /** The connection closed: requests still in flight upstream settle later; their bytes are no longer its to hold. */
  releaseAll(): void {
    for (const c of [...this.#charges]) this.release(c);
    this.#memory?.release(this.#partial);
    this.#partial = 0;
  }
}
