// A connection's requests are dispatched one at a time in arrival order (client-connection.ts says why). This is
// that order: a step runs once every step before it is done. When none is waiting (the common case: handlers that
// did not await), it runs right away, without a Promise and a microtask per request; a step that returns a promise
// makes the next ones wait for it.
export class DispatchQueue {
  /** The last step still waiting; null when every step so far is done. */
  #tail: Promise<void> | null = null;

  /** Runs `step` after the steps before it; a throw or a rejection goes to `failed`. */
  enqueue(step: () => void | Promise<void>, failed: (err: unknown) => void): void {
    if (this.#tail !== null) {
      this.#waitFor(this.#tail.then(step).catch(failed));
      return;
    }
    let result: void | Promise<void>;
    try {
      result = step();
    } catch (err) {
      failed(err);
      return;
    }
    if (result instanceof Promise) this.#waitFor(result.catch(failed));
  }

  #waitFor(step: Promise<void>): void {
    const tail: Promise<void> = step.then(() => {
      if (this.#tail === tail) this.#tail = null;
    });
    this.#tail = tail;
  }
}
