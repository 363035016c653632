// Long-running admin operations (a canary flip watches for a minute): each gets an id the caller polls with
// `GET /v1/operations/{id}` while it runs. In memory and bounded: the outcome of each step is in the audit, this
// is the progress view. Finished operations are kept (newest `max`) so a poller that was late still sees the end.
import { randomUUID } from 'node:crypto';

export interface OperationRecord<V> {
  readonly id: string;
  view(): V;
  readonly finished: boolean;
}

export class OperationRegistry<V> {
  readonly #ops = new Map<string, OperationRecord<V>>();
  readonly #max: number;

  constructor(max = 100) {
    this.#max = max;
  }

  newId(): string {
    return `op-${randomUUID().slice(0, 8)}`;
  }

  add(op: OperationRecord<V>): void {
    this.#ops.set(op.id, op);
    if (this.#ops.size <= this.#max) return;
    for (const [id, o] of this.#ops) {
      if (this.#ops.size <= this.#max) break;
      if (o.finished) this.#ops.delete(id);
    }
  }

  get(id: string): V | null {
    return this.#ops.get(id)?.view() ?? null;
  }

  list(): V[] {
    return [...this.#ops.values()].map((o) => o.view());
  }
}
