// Plain-TCP client sockets read into one buffer shared by every client connection, instead of a fresh 64 KiB
// backing store per read (Node's default). Under a Java producer that was two ArrayBuffers per Produce request,
// each one malloc'd, counted as external memory and swept by V8: the churn behind most of the proxy's major GCs.
// Reads are handled one at a time on the event loop and the FrameReader copies every frame out before the read
// callback returns (FrameReader `reusedChunks`), so one buffer serves all connections.
//
// net.Server has no `onread` option for accepted sockets, so the accepted socket's handle is moved into a new
// net.Socket that has one (the `handle` option, the same one Node's cluster and child_process use to adopt
// handles). The server was created with `pauseOnConnect`, so nothing was read on the old object. TLS sockets keep
// Node's own reads (the TLS layer reads the TCP handle itself).
import net from 'node:net';

const SHARED_READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** Where an adopted socket's reads go; set once by readsOf. */
interface ReadSlot {
  reader: ((chunk: Buffer) => void) | null;
}

const slots = new WeakMap<net.Socket, ReadSlot>();

/** The `_handle` Node keeps on every net.Socket (not in its typings). */
interface WithHandle {
  _handle: unknown;
}

/** net.Socket's options as Node reads them: any stream handle (typed as a BoundSocket only), and pauseOnCreate. */
interface AdoptOptions extends Omit<net.SocketConstructorOpts, 'handle'> {
  handle: unknown;
  pauseOnCreate: boolean;
}

/**
 * A socket accepted by a `pauseOnConnect` server, re-created on the same handle with reads into the shared buffer.
 * The old object is left without a handle and destroyed (that only releases its count on the server). The new
 * socket starts paused: reading starts when `readsOf` gives it a reader.
 */
export function adoptForSharedReads(accepted: net.Socket): net.Socket {
  const handle = (accepted as unknown as WithHandle)._handle; // cast: the handle is not in net.Socket's typings
  if (handle === null || handle === undefined) return accepted; // already closed by the peer: nothing to adopt
  const slot: ReadSlot = { reader: null };
  const options: AdoptOptions = {
    handle,
    readable: true,
    writable: true,
    pauseOnCreate: true,
    onread: {
      buffer: SHARED_READ_BUFFER,
      callback: (n: number, buf: Uint8Array): boolean => {
        // A view, not a copy: the reader copies what it keeps before returning.
        slot.reader?.(Buffer.from(buf.buffer, buf.byteOffset, n));
        return true;
      },
    },
  };
  const socket = new net.Socket(options as net.SocketConstructorOpts);
  (accepted as unknown as WithHandle)._handle = null; // cast as above: the old object must not close the moved handle
  accepted.destroy();
  slots.set(socket, slot);
  return socket;
}

/**
 * Delivers the socket's bytes to `onChunk`: for an adopted socket a view of the shared buffer that is only valid
 * during the call (copy what you keep), otherwise Node's own chunks through 'data'. Returns true for the former.
 */
export function readsOf(socket: net.Socket, onChunk: (chunk: Buffer) => void): boolean {
  const slot = slots.get(socket);
  if (slot === undefined) {
    socket.on('data', onChunk);
    return false;
  }
  slot.reader = onChunk;
  socket.resume();
  return true;
}
