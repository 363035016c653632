// Splits a Kafka TCP byte stream into frames (int32 size, then `size` bytes). Deliberately independent of
// protocol/ (which it is used to test): the capture tool must keep working while the codec changes.

export class FrameSplitter {
  private buffered: Buffer = Buffer.alloc(0);

  /** Feeds one chunk; returns the frames it completes, each WITHOUT its 4-byte size prefix, in stream order. */
  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Buffer[] = [];
    let off = 0;
    while (this.buffered.length - off >= 4) {
      const size = this.buffered.readInt32BE(off);
      if (size < 0) throw new Error(`negative frame size ${size}`);
      if (this.buffered.length - off - 4 < size) break;
      // Copy: the fixture must not keep (or be changed through) the socket's chunk.
      frames.push(Buffer.from(this.buffered.subarray(off + 4, off + 4 + size)));
      off += 4 + size;
    }
    this.buffered = this.buffered.subarray(off);
    return frames;
  }
}

/** Prefixes a frame with its int32 size, ready to write to a socket. */
export function withSizePrefix(frame: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(frame.length);
  return Buffer.concat([size, frame]);
}
