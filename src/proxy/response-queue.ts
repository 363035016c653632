// Kafka clients pair each response with their oldest in-flight request (Java throws on a mismatch), so a
// connection must answer in request order even when a later request finishes first upstream. Each request
// that expects an answer takes a slot when it is read; a slot's bytes leave only once every earlier slot left.

export interface ResponseSlot {
  /** Fill the slot with the encoded response frame (size prefix included). */
  fill(chunks: Buffer[]): void;
  /** The request gets no answer after all (e.g. the connection is being closed for it). */
  drop(): void;
}

export class ResponseQueue {
  #slots: { chunks: Buffer[] | null; done: boolean }[] = [];
  #head = 0;
  readonly #write: (chunks: Buffer[]) => void;

  constructor(write: (chunks: Buffer[]) => void) {
    this.#write = write;
  }

  /** Number of requests whose responses have not left yet. */
  get pending(): number {
    return this.#slots.length - this.#head;
  }

  reserve(): ResponseSlot {
    const slot = { chunks: null as Buffer[] | null, done: false };
    this.#slots.push(slot);
    return {
      fill: (chunks) => {
        if (slot.done) return;
        slot.chunks = chunks;
        slot.done = true;
        this.#flush();
      },
      drop: () => {
        if (slot.done) return;
        slot.done = true;
        this.#flush();
      },
    };
  }

  #flush(): void {
    while (this.#head < this.#slots.length && this.#slots[this.#head].done) {
      const { chunks } = this.#slots[this.#head];
      this.#head++;
      if (chunks) this.#write(chunks);
    }
    // Compact now and then so the array does not grow for the life of a long connection.
    if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
  }
}
