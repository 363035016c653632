// One TCP connection from the proxy to one upstream broker. Many client connections share it: each request
// gets the connection's own correlation id, and the response is matched back by that id. Kafka answers in
// request order on a connection, which is what keeps one partition's batches in order upstream: the data path
// writes a partition's batches to the same connection in the order the client sent them.
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import { SaslLoginError, reauthenticationDelayMs, saslLogin, type UpstreamSaslConfig } from '../security/sasl-client.ts';
import type { Logger } from 'pino';
import { FrameReader } from '../../protocol/frame-reader.ts';
import { decodeResponse, encodeRequestFrame, encodeRequestFrameWithBody } from '../../protocol/codec.ts';
import { ApiKey } from '../../protocol/messages/index.ts';
import type { RequestBodies, ResponseBodies } from '../../protocol/messages/index.ts';
import { RequestDeadlines } from './request-deadlines.ts';
import { defaultApiVersionsRequest } from '../../protocol/messages/api-versions-request.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';

/** See BrokerConnection.#onRead. */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export interface VersionRange {
  min: number;
  max: number;
}

export class UpstreamError extends Error {
  /** 'connection': the request may or may not have reached the broker; 'timeout': no answer in time. */
  readonly kind: 'connection' | 'timeout' | 'protocol';
  constructor(kind: 'connection' | 'timeout' | 'protocol', message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.kind = kind;
  }
}

interface Pending {
  apiKey: number;
  apiVersion: number;
  resolve: (body: never) => void;
  reject: (err: Error) => void;
  /** performance.now() when written; the deadline is sentAt + timeoutMs. */
  sentAt: number;
  timeoutMs: number;
}

export interface SendOptions {
  /** Overrides the connection's request timeout for this request. */
  timeoutMs?: number;
  /** Written even while a KIP-368 re-authentication holds other writes (the SASL requests themselves). */
  bypassHold?: boolean;
}

export interface BrokerConnectionOptions {
  host: string;
  port: number;
  clientId: string;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  maxFrameBytes: number;
  logger: Logger;
  /** TLS to this broker (CA, client certificate, SNI/hostname check; src/security/tls.ts). */
  tls?: tls.ConnectionOptions;
  /** SASL login with the proxy's own credentials for this cluster, after ApiVersions. */
  sasl?: UpstreamSaslConfig;
  /** An answer arrived: API key and seconds since the request was written (metrics). */
  onResponse?: (apiKey: number, seconds: number) => void;
}

export class BrokerConnection extends EventEmitter {
  readonly host: string;
  readonly port: number;
  /** The broker's supported version range per API key, from ApiVersions at connect time. */
  versions = new Map<number, VersionRange>();
  #socket: net.Socket | null = null;
  #pending = new Map<number, Pending>();
  #nextCorrelationId = 1;
  #closed = false;
  readonly #opts: BrokerConnectionOptions;
  /** Writes queued during a KIP-368 re-authentication (the broker accepts only SASL requests meanwhile). */
  #held: Buffer[][] | null = null;
  #reauthTimer: NodeJS.Timeout | null = null;
  /** One coarse timer for every request in flight, instead of a setTimeout per request (undici does the same). */
  readonly #deadlines: RequestDeadlines;

  constructor(opts: BrokerConnectionOptions) {
    super();
    this.host = opts.host;
    this.port = opts.port;
    this.#opts = opts;
    this.#deadlines = new RequestDeadlines(opts.requestTimeoutMs, () => this.#checkDeadlines());
  }

  get isOpen(): boolean {
    return this.#socket !== null && !this.#closed;
  }

  get inflight(): number {
    return this.#pending.size;
  }

  /** Connects and negotiates API versions. Rejects if either fails; the connection is then closed. */
  async connect(): Promise<void> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const secure = this.#opts.tls;
      // TLS: connected means handshake done and the certificate (chain and host name) verified.
      const s = secure === undefined
        ? net.connect({ host: this.host, port: this.port, noDelay: true, onread: { buffer: SHARED_READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf) } })
        : tls.connect({ ...secure, host: this.host, port: this.port }).setNoDelay(true);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new UpstreamError('connection', `connect to ${this.host}:${this.port} timed out`));
      }, this.#opts.connectTimeoutMs);
      s.once(secure === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new UpstreamError('connection', `connect to ${this.host}:${this.port} failed: ${err.message}`));
      });
    });
    this.#socket = socket;
    const frames = new FrameReader({ maxFrameBytes: this.#opts.maxFrameBytes });
    this.#frames = frames;
    if (this.#opts.tls !== undefined) socket.on('data', (chunk: Buffer) => this.#onChunk(chunk));
    socket.on('error', (err) => this.#fail(new UpstreamError('connection', `${this.host}:${this.port}: ${err.message}`)));
    socket.on('close', () => this.#fail(new UpstreamError('connection', `connection to ${this.host}:${this.port} closed`)));

    // ApiVersions v3 is flexible and carries the client software name; every 4.x broker accepts it.
    const res = await this.send(ApiKey.ApiVersions, 3, {
      ...defaultApiVersionsRequest(),
      clientSoftwareName: 'kafka-migration-proxy',
      clientSoftwareVersion: '0.1.0',
    });
    if (res.errorCode !== ErrorCode.NONE) {
      this.close();
      throw new UpstreamError('protocol', `ApiVersions to ${this.host}:${this.port} failed with error ${res.errorCode}`);
    }
    for (const k of res.apiKeys) this.versions.set(k.apiKey, { min: k.minVersion, max: k.maxVersion });
    if (this.#opts.sasl !== undefined) await this.#login(false);
  }

  /** SASL login (the first one, or a KIP-368 re-authentication with writes held meanwhile). */
  async #login(reauthentication: boolean): Promise<void> {
    const sasl = this.#opts.sasl as UpstreamSaslConfig;
    const direct = <K extends ApiKey>(apiKey: K, apiVersion: number, body: RequestBodies[K]) => this.send(apiKey, apiVersion, body, { bypassHold: true });
    if (reauthentication) this.#held = [];
    let lifetimeMs: number;
    try {
      ({ sessionLifetimeMs: lifetimeMs } = await saslLogin(direct, this.versions, sasl));
    } catch (err) {
      const error = err instanceof SaslLoginError
        ? new UpstreamError('protocol', `${this.host}:${this.port}: ${err.message}`)
        : err instanceof UpstreamError ? err : new UpstreamError('protocol', String(err));
      this.#fail(error);
      throw error;
    }
    const held = this.#held;
    this.#held = null;
    if (held !== null && held.length > 0 && this.#socket !== null && !this.#closed) {
      this.#socket.cork();
      for (const chunks of held) for (const c of chunks) this.#socket.write(c);
      this.#socket.uncork();
    }
    if (lifetimeMs > 0 && !this.#closed) {
      this.#reauthTimer = setTimeout(() => {
        this.#reauthTimer = null;
        this.#login(true).then(
          () => this.#opts.logger.debug({ broker: `${this.host}:${this.port}` }, 'upstream SASL re-authentication done'),
          (e: unknown) => this.#opts.logger.warn({ broker: `${this.host}:${this.port}`, err: String(e) }, 'upstream SASL re-authentication failed'),
        );
      }, reauthenticationDelayMs(lifetimeMs));
      this.#reauthTimer.unref();
    }
  }

  /** Sends one request; resolves with the decoded response body. */
  send<K extends ApiKey>(apiKey: K, apiVersion: number, body: RequestBodies[K], opts: SendOptions = {}): Promise<ResponseBodies[K]> {
    const chunks = this.#frame(apiKey, apiVersion, (correlationId) =>
      encodeRequestFrame({ requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId: this.#opts.clientId }, body));
    if (chunks === null) return Promise.reject(this.#notConnected());
    return this.#write(chunks, apiKey, apiVersion, opts);
  }

  /**
   * Sends a request whose body is already encoded (a client's Produce body forwarded byte for byte); resolves with
   * the decoded response body.
   */
  sendEncoded<K extends ApiKey>(apiKey: K, apiVersion: number, body: Buffer, opts: SendOptions = {}): Promise<ResponseBodies[K]> {
    const chunks = this.#frame(apiKey, apiVersion, (correlationId) =>
      encodeRequestFrameWithBody({ requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId: this.#opts.clientId }, body));
    if (chunks === null) return Promise.reject(this.#notConnected());
    return this.#write(chunks, apiKey, apiVersion, opts);
  }

  /**
   * Sends a request that gets no answer (Produce with acks=0: the broker sends nothing back). Returns false when
   * the connection is not open (nothing was written).
   */
  sendWithoutResponse<K extends ApiKey>(apiKey: K, apiVersion: number, body: RequestBodies[K] | Buffer): boolean {
    const header = (correlationId: number) => ({ requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId: this.#opts.clientId });
    const chunks = this.#frame(apiKey, apiVersion, (correlationId) =>
      Buffer.isBuffer(body) ? encodeRequestFrameWithBody(header(correlationId), body) : encodeRequestFrame(header(correlationId), body as RequestBodies[K]));
    if (chunks === null) return false;
    this.#writeChunks(chunks, false);
    return true;
  }

  #notConnected(): UpstreamError {
    return new UpstreamError('connection', `not connected to ${this.host}:${this.port}`);
  }

  /** The encoded frame under the next correlation id, or null when the connection is not open. */
  #frame(_apiKey: number, _apiVersion: number, encode: (correlationId: number) => Buffer[]): Buffer[] | null {
    if (!this.#socket || this.#closed) return null;
    const correlationId = this.#nextCorrelationId;
    this.#nextCorrelationId = this.#nextCorrelationId === 0x7fffffff ? 1 : this.#nextCorrelationId + 1;
    this.#lastCorrelationId = correlationId;
    return encode(correlationId);
  }

  #lastCorrelationId = 0;
  #frames: FrameReader | null = null;

  /**
   * Plain TCP reads land in one buffer shared by every upstream connection (reads are handled one at a time on the
   * event loop): answers are small, and a fresh 64 KiB backing store per read is external memory that makes V8 run
   * full GCs more often. Only what a frame keeps is copied out.
   */
  #onRead(n: number, buf: Uint8Array): boolean {
    this.#onChunk(Buffer.from(buf.buffer, buf.byteOffset, n), true);
    return true;
  }

  #onChunk(chunk: Buffer, shared = false): void {
    let list: Buffer[];
    try {
      list = this.#frames!.push(chunk);
    } catch (err) {
      this.#fail(new UpstreamError('protocol', `bad frame from ${this.host}:${this.port}: ${(err as Error).message}`));
      return;
    }
    // A frame sliced out of the shared read buffer is decoded before the next read, but a decoded body may keep
    // slices of it (bytes fields): copy it first.
    for (const frame of list) this.#onFrame(shared && frame.buffer === SHARED_READ_BUFFER.buffer ? Buffer.from(frame) : frame);
  }

  #write<K extends ApiKey>(chunks: Buffer[], apiKey: K, apiVersion: number, opts: SendOptions): Promise<ResponseBodies[K]> {
    const correlationId = this.#lastCorrelationId;
    this.#writeChunks(chunks, opts.bypassHold === true);
    return new Promise<ResponseBodies[K]>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.#opts.requestTimeoutMs;
      this.#pending.set(correlationId, { apiKey, apiVersion, resolve: resolve as (body: never) => void, reject, sentAt: performance.now(), timeoutMs });
      this.#deadlines.armed(timeoutMs);
    });
  }

  #writeChunks(chunks: Buffer[], bypassHold: boolean): void {
    const socket = this.#socket as net.Socket;
    if (this.#held !== null && !bypassHold) {
      // Re-authenticating: sent, in order, once the new session is up.
      this.#held.push(chunks);
      return;
    }
    // Gathered write: record data stays in the client's buffers.
    socket.cork();
    for (const c of chunks) socket.write(c);
    socket.uncork();
  }

  /** The coarse timer fired: a request past its deadline fails the connection (its later answers would be stale). */
  #checkDeadlines(): boolean {
    const now = performance.now();
    for (const p of this.#pending.values()) {
      if (now - p.sentAt >= p.timeoutMs) {
        this.#fail(new UpstreamError('timeout', `request ${p.apiKey}v${p.apiVersion} to ${this.host}:${this.port} timed out after ${p.timeoutMs} ms`));
        return false;
      }
    }
    return this.#pending.size > 0;
  }

  close(): void {
    this.#fail(new UpstreamError('connection', `connection to ${this.host}:${this.port} closed by the proxy`));
  }

  #onFrame(frame: Buffer): void {
    if (frame.length < 4) {
      this.#fail(new UpstreamError('protocol', `short response frame from ${this.host}:${this.port}`));
      return;
    }
    const correlationId = frame.readInt32BE(0);
    const p = this.#pending.get(correlationId);
    if (!p) return; // an answer to a request we already gave up on
    this.#pending.delete(correlationId);
    this.#opts.onResponse?.(p.apiKey, (performance.now() - p.sentAt) / 1000);
    try {
      p.resolve(decodeResponse(frame, p.apiKey, p.apiVersion).body as never);
    } catch (err) {
      p.reject(new UpstreamError('protocol', `undecodable response ${p.apiKey}v${p.apiVersion} from ${this.host}:${this.port}: ${(err as Error).message}`));
    }
  }

  #fail(err: UpstreamError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket?.destroy();
    if (this.#reauthTimer !== null) clearTimeout(this.#reauthTimer);
    this.#held = null;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#deadlines.stop();
    for (const p of pending) p.reject(err);
    this.emit('closed', err);
  }
}
