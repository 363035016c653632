// A minimal Kafka wire client for tests that need to do what real clients never do (requests before SASL, raw
// SASL tokens, pipelined frames, oversized frames) and to see exactly when the server closes the connection.
import net from 'node:net';
import tls from 'node:tls';
import { FrameReader } from '../../protocol/frame-reader.ts';
import { decodeResponse, encodeRequestFrame } from '../../protocol/codec.ts';
import { ApiKey } from '../../protocol/messages/index.ts';
import type { RequestBody } from '../../protocol/messages/index.ts';
import { ScramClient, type ScramHash } from '../../src/security/scram.ts';
import { encodePlainMessage } from '../../src/security/plain.ts';

export interface RawClientOptions {
  host?: string;
  port: number;
  /** TLS options (ca, cert, key, servername…); plaintext when absent. */
  tls?: tls.ConnectionOptions;
  localAddress?: string;
}

export class RawKafkaClient {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  #frames = new FrameReader({ maxFrameBytes: 64 * 1024 * 1024 });
  #waiters: ((frame: Buffer) => void)[] = [];
  #queue: Buffer[] = [];
  #correlationId = 1;
  #isClosed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.#isClosed = true;
      resolve();
    }));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.#frames.push(chunk)) {
        const w = this.#waiters.shift();
        if (w) w(frame);
        else this.#queue.push(frame);
      }
    });
  }

  static connect(opts: RawClientOptions): Promise<RawKafkaClient> {
    return new Promise((resolve, reject) => {
      const host = opts.host ?? '127.0.0.1';
      const s = opts.tls === undefined
        ? net.connect({ host, port: opts.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) })
        : tls.connect({ host, port: opts.port, ...opts.tls });
      s.once(opts.tls === undefined ? 'connect' : 'secureConnect', () => {
        s.removeListener('error', reject);
        resolve(new RawKafkaClient(s));
      });
      s.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The next frame, or null if the connection closes first (or nothing arrives within timeoutMs). */
  nextFrame(timeoutMs = 5_000): Promise<Buffer | null> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), timeoutMs);
      const done = (f: Buffer | null) => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(f);
      };
      const waiter = (f: Buffer) => done(f);
      this.#waiters.push(waiter);
      void this.closed.then(() => done(null));
    });
  }

  /** Writes a request without waiting; returns its correlation id. */
  write(apiKey: number, version: number, body: unknown): number {
    const correlationId = this.#correlationId++;
    const chunks = encodeRequestFrame({ requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId: 'raw-test' }, body as RequestBody);
    for (const c of chunks) this.socket.write(c);
    return correlationId;
  }

  /** Sends a request and decodes its answer; null when the connection closed instead. */
  async request<T = Record<string, unknown>>(apiKey: number, version: number, body: unknown): Promise<T | null> {
    this.write(apiKey, version, body);
    const frame = await this.nextFrame();
    if (frame === null) return null;
    return decodeResponse(frame, apiKey, version).body as T;
  }

  /** A raw size-prefixed token (SaslHandshake v0 mode). */
  writeRaw(payload: Buffer): void {
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length, 0);
    this.socket.write(Buffer.concat([size, payload]));
  }

  close(): void {
    this.socket.destroy();
  }

  /** Handshake v1 + SaslAuthenticate (v2) with PLAIN or SCRAM; resolves with the last SaslAuthenticate answer. */
  async login(mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', username: string, password: string, authVersion = 2): Promise<SaslAuthAnswer | null> {
    const hs = await this.request<{ errorCode: number; mechanisms: string[] }>(ApiKey.SaslHandshake, 1, { mechanism });
    if (hs === null) return null;
    if (hs.errorCode !== 0) return { errorCode: hs.errorCode, errorMessage: `handshake: ${hs.mechanisms.join(',')}`, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n };
    const auth = (bytes: Buffer) => this.request<SaslAuthAnswer>(ApiKey.SaslAuthenticate, authVersion, { authBytes: bytes });
    if (mechanism === 'PLAIN') return auth(encodePlainMessage(username, password));
    const hash: ScramHash = mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512';
    const scram = new ScramClient({ hash, username, password });
    const first = await auth(scram.first());
    if (first === null || first.errorCode !== 0) return first;
    const final = await auth(await scram.final(first.authBytes));
    if (final !== null && final.errorCode === 0) scram.verify(final.authBytes);
    return final;
  }
}

export interface SaslAuthAnswer {
  errorCode: number;
  errorMessage: string | null;
  authBytes: Buffer;
  sessionLifetimeMs: bigint;
}

export const API_VERSIONS_V3 = { clientSoftwareName: 'raw-test', clientSoftwareVersion: '1.0' };
