// A Map with a size bound that forgets the least recently used entry first. It replaces lru-cache on the data
// path: lru-cache preallocates arrays of `max` slots up front (a 500k-entry cache is megabytes of pointers even
// when it holds ten entries), and every major GC has to scan them; this keeps memory proportional to what is
// stored. Recency is the Map's own insertion order: a hit moves the entry to the end (delete + set).
export class BoundedMap<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();

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

  /** The value, marked as most recently used. */
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined && this.#map.size > 1) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  /** The value without touching its recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): this {
    if (this.#map.has(key)) this.#map.delete(key);
    else if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  keys(): IterableIterator<K> {
    return this.#map.keys();
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}
