// proxy.limits.frameReadTimeoutMs: a frame whose first bytes arrived must be complete within this long, or the
// connection closes (a peer that trickles a frame would otherwise hold its announced size of the memory budget
// for ever). One unref'd timer per connection, restarted at each frame boundary, stopped while reading is paused.
export class FrameDeadline {
  readonly ms: number;
  readonly #expired: () => void;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** `ms` 0 or less: no deadline (start() does nothing). */
  constructor(ms: number, expired: () => void) {
    this.ms = ms;
    this.#expired = expired;
  }

  get armed(): boolean {
    return this.#timer !== null;
  }

  /** (Re)starts the countdown for the frame being read now. */
  start(): void {
    this.clear();
    if (this.ms <= 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#expired();
    }, this.ms);
    this.#timer.unref();
  }

  clear(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
