// A hand-made Kafka client for one job: open a TCP connection and complete an ApiVersions v0 + Metadata v1
// exchange, then stay idle. This is what every real client does first, and it is cheap enough to do a thousand
// times from one process without a client library's timers and buffers muddying the measurement.
import net from 'node:net';
import { ErrorCode } from '../../protocol/kafka-errors.ts';

const API_METADATA = 3;
const API_VERSIONS = 18;

/** Request header v1: apiKey, apiVersion, correlationId, clientId (nullable string); then the body. */
function request(apiKey: number, apiVersion: number, correlationId: number, clientId: string, body: Buffer): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const header = Buffer.alloc(2 + 2 + 4 + 2 + id.length);
  let o = header.writeInt16BE(apiKey, 0);
  o = header.writeInt16BE(apiVersion, o);
  o = header.writeInt32BE(correlationId, o);
  o = header.writeInt16BE(id.length, o);
  id.copy(header, o);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + body.length);
  return Buffer.concat([size, header, body]);
}

/** Metadata v1 body: topics array (int32 count, then int16-length strings). */
function metadataBody(topics: readonly string[]): Buffer {
  const parts = [Buffer.alloc(4)];
  parts[0].writeInt32BE(topics.length);
  for (const t of topics) {
    const name = Buffer.from(t, 'utf8');
    const len = Buffer.alloc(2);
    len.writeInt16BE(name.length);
    parts.push(len, name);
  }
  return Buffer.concat(parts);
}

export interface IdleConnection {
  socket: net.Socket;
  /** From connect() to the Metadata answer, ms. */
  handshakeMs: number;
  /** Brokers in the Metadata answer (the proxy presents itself). */
  brokers: number;
}

/** Connects, exchanges ApiVersions v0 and Metadata v1 (for `topics`), and resolves with the still-open socket. */
export function openIdleConnection(host: string, port: number, topics: readonly string[], clientId: string, timeoutMs = 30_000): Promise<IdleConnection> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    let step = 0;
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms (step ${step})`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    socket.once('error', fail);
    socket.once('connect', () => socket.write(request(API_VERSIONS, 0, 1, clientId, Buffer.alloc(0))));
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const frame = buffered.subarray(4, 4 + buffered.readInt32BE(0));
        buffered = buffered.subarray(4 + frame.length);
        const correlationId = frame.readInt32BE(0);
        if (step === 0) {
          if (correlationId !== 1) return fail(new Error(`ApiVersions: correlation id ${correlationId}`));
          const errorCode = frame.readInt16BE(4);
          if (errorCode !== ErrorCode.NONE) return fail(new Error(`ApiVersions: error code ${errorCode}`));
          step = 1;
          socket.write(request(API_METADATA, 1, 2, clientId, metadataBody(topics)));
        } else if (step === 1) {
          if (correlationId !== 2) return fail(new Error(`Metadata: correlation id ${correlationId}`));
          step = 2;
          clearTimeout(timer);
          socket.removeAllListeners('data');
          socket.removeListener('error', fail);
          // Idle from here on; an error later (proxy closing) must not crash the harness.
          socket.on('error', () => undefined);
          resolve({ socket, handshakeMs: performance.now() - started, brokers: frame.readInt32BE(4) });
          return;
        }
      }
    });
  });
}
