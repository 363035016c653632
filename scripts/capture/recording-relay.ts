// A recording TCP relay in front of one Kafka broker: every client connection gets its own upstream connection,
// both byte streams are split into frames and recorded, responses are paired with their requests by correlation
// id, and Metadata responses get the relay's port instead of the broker's, so that clients stay on the relay.
import net from 'node:net';
import { FrameSplitter, withSizePrefix } from './frame-splitter.ts';
import { rewriteMetadataBrokerPorts } from './metadata-broker-rewrite.ts';

const METADATA = 3;
const API_VERSIONS = 18;

export interface CapturedFrame {
  /** Arrival order over all connections of this relay. */
  seq: number;
  /** 1-based number of the client connection, in accept order. */
  connection: number;
  direction: 'request' | 'response';
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  /** From the request header (responses carry their request's). */
  clientId: string | null;
  /** For a response: the seq of its request. */
  requestSeq?: number;
  /** The frame exactly as its sender wrote it (for Metadata responses: before the port rewrite), no size prefix. */
  bytes: Buffer;
}

export interface ClientSoftware {
  name: string | null;
  version: string | null;
}

interface PendingRequest {
  apiKey: number;
  apiVersion: number;
  clientId: string | null;
  seq: number;
}

interface RequestHeaderInfo {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** client_software_name/version from an ApiVersions v3+ request. */
  software: ClientSoftware | null;
}

function readRequestHeader(frame: Buffer): RequestHeaderInfo {
  const apiKey = frame.readInt16BE(0);
  const apiVersion = frame.readInt16BE(2);
  const correlationId = frame.readInt32BE(4);
  const idLen = frame.readInt16BE(8);
  const clientId = idLen < 0 ? null : frame.toString('utf8', 10, 10 + idLen);
  let software: ClientSoftware | null = null;
  // ApiVersions v3+ (KIP-511): header v2 (client_id, tagged fields), then client_software_name/version as
  // compact strings. Only the simple, usual case (no header tagged fields, 1-byte lengths) is read.
  if (apiKey === API_VERSIONS && apiVersion >= 3) {
    let off = 10 + Math.max(idLen, 0);
    if (frame[off] === 0) {
      off += 1;
      const compact = (): string | null => {
        const n = (frame[off] ?? 0) - 1;
        off += 1;
        if (n < 0 || n > 126 || off + n > frame.length) return null;
        const s = frame.toString('utf8', off, off + n);
        off += n;
        return s;
      };
      const name = compact();
      const version = compact();
      software = { name, version };
    }
  }
  return { apiKey, apiVersion, correlationId, clientId, software };
}

export class RecordingRelay {
  readonly frames: CapturedFrame[] = [];
  readonly software: ClientSoftware[] = [];
  /** Problems seen (unpaired responses, parse failures); the capture fails if any. */
  readonly problems: string[] = [];
  private readonly upstreamHost: string;
  private readonly upstreamPort: number;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private seq = 0;
  private connections = 0;
  private port = 0;

  constructor(upstreamHost: string, upstreamPort: number) {
    this.upstreamHost = upstreamHost;
    this.upstreamPort = upstreamPort;
    this.server = net.createServer((client) => this.relay(client));
  }

  /** Starts listening on 127.0.0.1 (ephemeral port) and returns the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private relay(client: net.Socket): void {
    const connection = ++this.connections;
    const upstream = net.connect({ host: this.upstreamHost, port: this.upstreamPort });
    this.track(client);
    this.track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pending = new Map<number, PendingRequest>();
    const fromClient = new FrameSplitter();
    const fromBroker = new FrameSplitter();

    client.on('data', (chunk: Buffer) => {
      for (const frame of fromClient.push(chunk)) {
        const h = readRequestHeader(frame);
        const seq = ++this.seq;
        if (h.software) this.software.push(h.software);
        pending.set(h.correlationId, { apiKey: h.apiKey, apiVersion: h.apiVersion, clientId: h.clientId, seq });
        this.frames.push({ seq, connection, direction: 'request', apiKey: h.apiKey, apiVersion: h.apiVersion,
          correlationId: h.correlationId, clientId: h.clientId, bytes: frame });
        upstream.write(withSizePrefix(frame));
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      for (const frame of fromBroker.push(chunk)) {
        const correlationId = frame.readInt32BE(0);
        const req = pending.get(correlationId);
        let forward = frame;
        if (req === undefined) {
          this.problems.push(`connection ${connection}: response with unknown correlation id ${correlationId}`);
        } else {
          pending.delete(correlationId);
          this.frames.push({ seq: ++this.seq, connection, direction: 'response', apiKey: req.apiKey,
            apiVersion: req.apiVersion, correlationId, clientId: req.clientId, requestSeq: req.seq, bytes: frame });
          if (req.apiKey === METADATA) {
            try {
              forward = rewriteMetadataBrokerPorts(frame, req.apiVersion, () => this.port).frame;
            } catch (err) {
              this.problems.push(`connection ${connection}: Metadata v${req.apiVersion} rewrite failed: ${(err as Error).message}`);
            }
          }
        }
        client.write(withSizePrefix(forward));
      }
    });
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
  }
}
