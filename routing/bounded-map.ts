// A Map with a size bound that forgets the least recently used entry first (approximately). It replaces lru-cache
// on the data path: lru-cache preallocates arrays of `max` slots up front (a 500k-entry cache is megabytes of
// pointers even when it holds ten entries), and every major GC has to scan them; this keeps memory proportional
// to what is stored.
//
// Recency is the Map's own insertion order. A hit does not reorder the Map every time (a delete + set per lookup
// showed in profiles): only an entry in the older half of the insertion order is moved to the end, so a hot entry
// moves at most once per max/2 insertions and is never the one evicted.
interface Slot<V> {
  value: V;
  /** Insertion stamp: the value of #stamp when the entry was (re)inserted. */
  stamp: number;
}

export class BoundedMap<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, Slot<V>>();
  #stamp = 0;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`BoundedMap size must be a positive integer, got ${max}`);
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get max(): number {
    return this.#max;
  }

  /** The value, marked as recently used. */
  get(key: K): V | undefined {
    const slot = this.#map.get(key);
    if (slot === undefined) return undefined;
    if (this.#stamp - slot.stamp > this.#max >>> 1) {
      this.#map.delete(key);
      slot.stamp = ++this.#stamp;
      this.#map.set(key, slot);
    }
    return slot.value;
  }

  /** The value without touching its recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key)?.value;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): this {
    const slot = this.#map.get(key);
    if (slot !== undefined) {
      // An update in place keeps the entry's position; it counts as a use.
      slot.value = value;
      if (this.#stamp - slot.stamp > this.#max >>> 1) {
        this.#map.delete(key);
        slot.stamp = ++this.#stamp;
        this.#map.set(key, slot);
      }
      return this;
    }
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, { value, stamp: ++this.#stamp });
    return this;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  *keys(): IterableIterator<K> {
    yield* this.#map.keys();
  }

  *values(): IterableIterator<V> {
    for (const s of this.#map.values()) yield s.value;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, s] of this.#map) yield [k, s.value];
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}
