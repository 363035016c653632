// Splits a TCP byte stream into Kafka frames (int32 size, then `size` bytes).
//
// Copying policy, because Produce frames carry megabytes of records:
// - a frame that lies inside one incoming chunk is returned as a slice of that chunk (no copy);
// - a frame that spans chunks is copied once into a buffer allocated at its final size (the size prefix tells us
//   how much to allocate; no growing, no second concatenation).
// Slices keep their whole chunk alive; socket chunks are at most a few hundred KiB, so that is the cheaper trade.
// - with `reusedChunks` (the socket reads into one buffer it reuses) every frame is copied once into its own
//   exactly-sized buffer, so no frame points into memory the next read overwrites.

import { KafkaCodecError, KafkaCodecErrorCode } from './errors.ts';

export const DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024;

export interface FrameReaderOptions {
  /** Frames announcing more bytes than this are rejected before anything is allocated. */
  maxFrameBytes?: number;
  /** The caller reuses each chunk's memory once push() returns: frames are always copied out (see above). */
  reusedChunks?: boolean;
  /**
   * Where frame buffers come from (default Buffer.allocUnsafe): a buffer of exactly `size` bytes, contents
   * unspecified (every byte is overwritten before the frame is handed out). The client side recycles them.
   */
  allocate?: (size: number) => Buffer;
}

export class FrameReader {
  private readonly maxFrameBytes: number;
  private readonly reusedChunks: boolean;
  private readonly allocate: (size: number) => Buffer;
  /** The size prefix when it arrives split across chunks. */
  private readonly sizeBytes = Buffer.alloc(4);
  private sizeFilled = 0;
  /** The frame being assembled from several chunks, or null between frames. */
  private partial: Buffer | null = null;
  private partialFilled = 0;

  constructor(options: FrameReaderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 0 || max > 0x7fffffff) {
      throw new RangeError(`maxFrameBytes must be an integer in [0, 2^31-1], got ${max}`);
    }
    this.maxFrameBytes = max;
    this.reusedChunks = options.reusedChunks === true;
    this.allocate = options.allocate ?? Buffer.allocUnsafe;
  }

  /** Bytes held back waiting for the rest of a frame (for back-pressure and diagnostics). */
  get bufferedBytes(): number {
    return this.sizeFilled + this.partialFilled;
  }

  /** The announced size of the frame being assembled from several chunks; 0 between frames (memory budgets). */
  get pendingFrameSize(): number {
    return this.partial?.length ?? 0;
  }

  /**
   * Feeds one chunk and returns the frames it completes (each without its size prefix), in stream order.
   * After a thrown KafkaCodecError the stream is out of sync: close the connection.
   */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      if (this.partial !== null) {
        // Continue the frame that spans chunks.
        const take = Math.min(this.partial.length - this.partialFilled, len - off);
        chunk.copy(this.partial, this.partialFilled, off, off + take);
        this.partialFilled += take;
        off += take;
        if (this.partialFilled === this.partial.length) {
          frames.push(this.partial);
          this.partial = null;
          this.partialFilled = 0;
        }
        continue;
      }

      let size: number;
      if (this.sizeFilled === 0 && len - off >= 4) {
        size = chunk.readInt32BE(off);
        off += 4;
      } else {
        const take = Math.min(4 - this.sizeFilled, len - off);
        chunk.copy(this.sizeBytes, this.sizeFilled, off, off + take);
        this.sizeFilled += take;
        off += take;
        if (this.sizeFilled < 4) break;
        this.sizeFilled = 0;
        size = this.sizeBytes.readInt32BE(0);
      }
      this.checkSize(size);

      if (len - off >= size) {
        if (this.reusedChunks) {
          const frame = this.allocate(size);
          chunk.copy(frame, 0, off, off + size);
          frames.push(frame);
        } else {
          frames.push(chunk.subarray(off, off + size));
        }
        off += size;
      } else {
        // Unspecified contents are safe here: the frame is only handed out once every byte has been overwritten.
        this.partial = this.allocate(size);
        this.partialFilled = 0;
      }
    }
    return frames;
  }

  private checkSize(size: number): void {
    if (size < 0) {
      throw new KafkaCodecError(KafkaCodecErrorCode.INVALID_LENGTH, `negative frame size ${size}`);
    }
    if (size > this.maxFrameBytes) {
      throw new KafkaCodecError(
        KafkaCodecErrorCode.FRAME_TOO_LARGE,
        `frame of ${size} bytes exceeds the ${this.maxFrameBytes}-byte limit`,
      );
    }
  }
}

/** Prefixes already-encoded chunks with their total size: the chunks of one complete frame. */
export function frameOf(chunks: readonly Buffer[]): Buffer[] {
  let total = 0;
  for (const c of chunks) total += c.length;
  if (total > 0x7fffffff) {
    throw new KafkaCodecError(KafkaCodecErrorCode.FRAME_TOO_LARGE, `frame of ${total} bytes does not fit an int32`);
  }
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeInt32BE(total, 0);
  return [prefix, ...chunks];
}
