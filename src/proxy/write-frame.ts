// Writing one encoded frame (its chunks) to a client socket.
import type net from 'node:net';

/** Frames up to this size are copied into one buffer and written at once instead of as a gathered write. */
const SMALL_FRAME_BYTES = 16 * 1024;

/**
 * Answers are mostly small (a Produce answer is ~100 bytes in two chunks): one buffer and one plain write costs
 * less than Node's corked gathered write (a buffered entry per chunk, then writev). Large ones are gathered, so
 * their bytes are not copied.
 */
export function writeFrame(socket: net.Socket, chunks: readonly Buffer[]): void {
  let total = 0;
  for (const c of chunks) total += c.length;
  if (chunks.length === 1 || total <= SMALL_FRAME_BYTES) {
    socket.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
    return;
  }
  socket.cork();
  for (const c of chunks) socket.write(c);
  socket.uncork();
}
