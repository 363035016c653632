// Recycled memory for client request frames. A Java producer's Produce frame is ~90 KiB; a fresh buffer per frame
// is a malloc'd backing store that V8 counts as external memory, and that external churn is what made V8 run a
// major GC every couple of hundred requests (measured: 12-15 mark-compacts per 230k records without the pool,
// 2 — both at start-up — with it). Frames come from here instead, and a handler that knows nothing refers to its
// frame any more gives it back (RequestContext.frameDone): Produce does, once its answer is written and no concern
// kept a view of the records (PartitionWrite.recordsKept). A frame nobody gives back is simply garbage collected.
//
// Buffers are kept per power-of-two size class, with a bound on the bytes held free. A frame is a view of exactly
// its size; the bytes behind it past its end are stale data of earlier frames, never handed out as frame content
// (the FrameReader overwrites every byte of a frame before it is used).

/** Smaller frames come from Node's own 8 KiB pool (Buffer.allocUnsafe), which costs no backing store each. */
const MIN_POOLED_BYTES = 4 * 1024;
/** Larger frames are rare (a producer's batch.size is 16 KiB-1 MiB): plain buffers. */
const MAX_POOLED_BYTES = 1024 * 1024;
/** Free buffers held at most, over all size classes. */
const DEFAULT_MAX_FREE_BYTES = 16 * 1024 * 1024;

export class FramePool {
  readonly #free = new Map<number, ArrayBuffer[]>();
  /**
   * Frames handed out and not given back, keyed by the frame object itself (not its memory): a second give of a
   * frame is ignored even after its memory was handed out again for a newer frame.
   */
  readonly #out = new WeakSet<Buffer>();
  readonly #maxFreeBytes: number;
  #freeBytes = 0;
  /** Frames served from a recycled buffer / from a new one (tests, diagnostics). */
  reused = 0;
  allocated = 0;

  constructor(maxFreeBytes = DEFAULT_MAX_FREE_BYTES) {
    this.#maxFreeBytes = maxFreeBytes;
  }

  /** Bytes of free buffers held for reuse. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** A buffer of exactly `size` bytes, contents unspecified. */
  take(size: number): Buffer {
    if (size < MIN_POOLED_BYTES || size > MAX_POOLED_BYTES) return Buffer.allocUnsafe(size);
    const classBytes = 2 ** Math.ceil(Math.log2(size));
    const backing = this.#free.get(classBytes)?.pop();
    let store: ArrayBuffer;
    if (backing !== undefined) {
      this.#freeBytes -= classBytes;
      this.reused++;
      store = backing;
    } else {
      this.allocated++;
      // allocUnsafeSlow: a backing store of its own (not a slice of Node's pool), not zero-filled.
      store = Buffer.allocUnsafeSlow(classBytes).buffer as ArrayBuffer;
    }
    const frame = Buffer.from(store, 0, size);
    this.#out.add(frame);
    return frame;
  }

  /**
   * The caller promises that nothing refers to `frame` (or any view of its memory) any more. Buffers that did not
   * come from take(), or were given back already, are ignored.
   */
  give(frame: Buffer): void {
    if (!this.#out.delete(frame)) return;
    const store = frame.buffer as ArrayBuffer;
    const classBytes = store.byteLength;
    if (this.#freeBytes + classBytes > this.#maxFreeBytes) return;
    let list = this.#free.get(classBytes);
    if (list === undefined) this.#free.set(classBytes, (list = []));
    list.push(store);
    this.#freeBytes += classBytes;
  }
}

/** The pool every client connection's frames come from (reads are handled one at a time on the event loop). */
export const CLIENT_FRAMES = new FramePool();

/** A client frame of `size` bytes from the shared pool (the FrameReader's allocator). */
export function takeClientFrame(size: number): Buffer {
  return CLIENT_FRAMES.take(size);
}

/** RequestContext.frameDone: the request's frame goes back to the shared pool. */
export function giveFrameBack(this: { frame: Buffer }): void {
  CLIENT_FRAMES.give(this.frame);
}
