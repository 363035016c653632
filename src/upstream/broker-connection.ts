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
import { decodeResponse, encodeRequestFrame } from '../../protocol/codec.ts';
import { ApiKey } from '../../protocol/messages/index.ts';
import type { ApiVersionsResponse } from '../../protocol/messages/api-versions-response.ts';
import type { RequestBody } from '../../protocol/messages/index.ts';
import { defaultApiVersionsRequest } from '../../protocol/messages/api-versions-request.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';

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
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  sentAt: number;
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

  constructor(opts: BrokerConnectionOptions) {
    super();
    this.host = opts.host;
    this.port = opts.port;
    this.#opts = opts;
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
        ? net.connect({ host: this.host, port: this.port, noDelay: true })
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
    socket.on('data', (chunk: Buffer) => {
      let list: Buffer[];
      try {
        list = frames.push(chunk);
      } catch (err) {
        this.#fail(new UpstreamError('protocol', `bad frame from ${this.host}:${this.port}: ${(err as Error).message}`));
        return;
      }
      for (const frame of list) this.#onFrame(frame);
    });
    socket.on('error', (err) => this.#fail(new UpstreamError('connection', `${this.host}:${this.port}: ${err.message}`)));
    socket.on('close', () => this.#fail(new UpstreamError('connection', `connection to ${this.host}:${this.port} closed`)));

    // ApiVersions v3 is flexible and carries the client software name; every 4.x broker accepts it.
    const res = (await this.send(ApiKey.ApiVersions, 3, {
      ...defaultApiVersionsRequest(),
      clientSoftwareName: 'kafka-migration-proxy',
      clientSoftwareVersion: '0.1.0',
    })) as ApiVersionsResponse;
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
    const direct = (apiKey: number, apiVersion: number, body: unknown) => this.send(apiKey, apiVersion, body as RequestBody, { bypassHold: true });
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

  /**
   * Sends one request. Resolves with the decoded response body, or with null when `expectResponse` is false
   * (Produce with acks=0: the broker sends nothing back).
   */
  send(apiKey: number, apiVersion: number, body: RequestBody, opts: { expectResponse?: boolean; timeoutMs?: number; bypassHold?: boolean } = {}): Promise<unknown> {
    const socket = this.#socket;
    if (!socket || this.#closed) {
      return Promise.reject(new UpstreamError('connection', `not connected to ${this.host}:${this.port}`));
    }
    const correlationId = this.#nextCorrelationId;
    this.#nextCorrelationId = this.#nextCorrelationId === 0x7fffffff ? 1 : this.#nextCorrelationId + 1;
    const chunks = encodeRequestFrame(
      { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId: this.#opts.clientId },
      body,
    );
    const expectResponse = opts.expectResponse ?? true;
    if (this.#held !== null && opts.bypassHold !== true) {
      // Re-authenticating: sent, in order, once the new session is up.
      this.#held.push(chunks);
    } else {
      // Gathered write: record data stays in the client's buffers.
      socket.cork();
      for (const c of chunks) socket.write(c);
      socket.uncork();
    }
    if (!expectResponse) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.#opts.requestTimeoutMs;
      const timer = setTimeout(() => {
        // After a timeout the outcome is unknown and later responses would be stale: close, like Kafka clients do.
        this.#fail(new UpstreamError('timeout', `request ${apiKey}v${apiVersion} to ${this.host}:${this.port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(correlationId, { apiKey, apiVersion, resolve, reject, timer, sentAt: performance.now() });
    });
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
    clearTimeout(p.timer);
    this.#opts.onResponse?.(p.apiKey, (performance.now() - p.sentAt) / 1000);
    try {
      p.resolve(decodeResponse(frame, p.apiKey, p.apiVersion).body);
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
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.emit('closed', err);
  }
}
