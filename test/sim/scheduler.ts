// The simulation's clock and event queue. Simulated time (`now`, milliseconds) only moves when the next event is
// taken from the queue, so a run is a pure function of its seed: no real timers, no sockets, no wall clock.
//
// Every event has an owner: a member, or a shared actor ('control', 'source', 'target', 'client'). A paused
// member (the SIGSTOP model) runs none of its events while paused — they wait, in order, and run when it wakes,
// while the clock keeps running for everyone else. A crashed member's events are dropped. Promise continuations
// started by an event (the real coordinator, participant and barrier are async) run before the next event: the
// driver yields to the macrotask queue (setImmediate) between events, which drains every microtask first.

import { setImmediate as yieldToMicrotasks } from 'node:timers/promises';

/** mulberry32: small, fast, and the same sequence on every platform for a seed. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

interface SimEvent {
  readonly at: number;
  readonly seq: number;
  readonly owner: string;
  readonly run: () => void;
}

/** Binary min-heap on (at, seq): equal times run in scheduling order, which keeps runs deterministic. */
class EventQueue {
  readonly #heap: SimEvent[] = [];

  get size(): number {
    return this.#heap.length;
  }

  push(e: SimEvent): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i] as SimEvent, h[parent] as SimEvent)) break;
      [h[i], h[parent]] = [h[parent] as SimEvent, h[i] as SimEvent];
      i = parent;
    }
  }

  pop(): SimEvent | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l] as SimEvent, h[m] as SimEvent)) m = l;
        if (r < h.length && before(h[r] as SimEvent, h[m] as SimEvent)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as SimEvent, h[i] as SimEvent];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class Scheduler {
  readonly #queue = new EventQueue();
  readonly #paused = new Map<string, SimEvent[]>();
  readonly #crashed = new Set<string>();
  #now = 0;
  #seq = 0;
  /** Events run so far (the "steps" of a schedule). */
  steps = 0;
  /** Called after every step, once its microtasks have run: the invariant checks. */
  afterStep: () => void = () => undefined;

  get now(): number {
    return this.#now;
  }

  /** Runs `run` as `owner` after `delayMs` of simulated time. */
  after(owner: string, delayMs: number, run: () => void): void {
    if (this.#crashed.has(owner)) return;
    this.#queue.push({ at: this.#now + Math.max(0, delayMs), seq: this.#seq++, owner, run });
  }

  /** A timer in the shape CutoverBarrierOptions.schedule wants, owned by `owner`. */
  timer(owner: string): (callback: () => void, delayMs: number) => () => void {
    return (callback, delayMs) => {
      let cancelled = false;
      this.after(owner, delayMs, () => {
        if (!cancelled) callback();
      });
      return () => {
        cancelled = true;
      };
    };
  }

  isPaused(owner: string): boolean {
    return this.#paused.has(owner);
  }

  isCrashed(owner: string): boolean {
    return this.#crashed.has(owner);
  }

  /** SIGSTOP: `owner` runs nothing until resume(); its due events wait in order. */
  pause(owner: string): void {
    if (!this.#paused.has(owner) && !this.#crashed.has(owner)) this.#paused.set(owner, []);
  }

  /** SIGCONT: the events that came due while paused run now, in their order, before anything later. */
  resume(owner: string): void {
    const waiting = this.#paused.get(owner);
    if (waiting === undefined) return;
    this.#paused.delete(owner);
    for (const e of waiting) this.#queue.push({ ...e, at: this.#now, seq: this.#seq++ });
  }

  /** kill -9: every pending and future event of `owner` is dropped. */
  crash(owner: string): void {
    this.#paused.delete(owner);
    this.#crashed.add(owner);
  }

  /** Runs events until the queue is empty or simulated time passes `until`. */
  async run(until: number): Promise<void> {
    for (;;) {
      const e = this.#queue.pop();
      if (e === undefined) return;
      if (e.at > until) {
        this.#queue.push(e);
        this.#now = until;
        return;
      }
      this.#now = e.at;
      if (this.#crashed.has(e.owner)) continue;
      const waiting = this.#paused.get(e.owner);
      if (waiting !== undefined) {
        waiting.push(e);
        continue;
      }
      this.steps += 1;
      e.run();
      await yieldToMicrotasks();
      this.afterStep();
    }
  }
}
