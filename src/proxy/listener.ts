// The client-facing TCP listener: accepts producer connections and shuts down gracefully (stop accepting,
// let in-flight requests finish for a bounded time, then close what is left).
//
// Security (src/security/): connection limits are checked on TCP accept, before any TLS work; TLS listeners
// hand the socket to a TLS terminator and start the Kafka connection once the handshake is done; SASL
// listeners give every connection an authenticator that gates its requests.
import net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import { ClientConnection } from './client-connection.ts';
import type { ConnectionAuthenticator, ConnectionView, Handler } from './handler.ts';
import { TlsTerminator, peerPrincipal, type ServerTlsConfig } from '../security/tls.ts';
import { normalizeAddress, type ConnectionLimiter } from '../security/connection-limiter.ts';
import { NO_SECURITY_EVENTS, type SecurityEvents } from '../security/events.ts';
import type { RequestMemoryBudget } from './request-memory-budget.ts';
import { RateLimitedLog } from '../rate-limited-log.ts';
import { adoptForSharedReads } from './shared-read-socket.ts';

export interface ListenerOptions {
  host: string;
  port: number;
  logger: Logger;
  maxFrameBytes: number;
  maxInflightRequestsPerConnection: number;
  maxConnections: number;
  dispatch: (apiKey: number) => Handler;
  onConnectionChange?: (open: number) => void;
  /** Name in logs and metrics; default "default". */
  name?: string;
  /** Metadata's broker list for clients of this listener (its advertised address per proxy node). */
  advertisedNodes?: { nodeId: number; host: string; port: number }[];
  /** TLS listener: certificate, key, client-certificate verification. */
  tls?: ServerTlsConfig;
  /** TLS handshakes must finish within this (default 10 s). */
  tlsHandshakeTimeoutMs?: number;
  /** SASL listener: one authenticator per connection. */
  authenticator?: (conn: ConnectionView) => ConnectionAuthenticator;
  /** Shared by every listener: global and per-address connection caps (replaces `maxConnections`). */
  limiter?: ConnectionLimiter;
  idleTimeoutMs?: number;
  events?: SecurityEvents;
  /** Client-facing request durations (metrics). */
  onRequestDone?: (apiKey: number, seconds: number) => void;
  /** Shared by every listener: request bytes held across all connections (`limits.maxBufferedRequestBytes`). */
  memory?: RequestMemoryBudget;
  /** A started request frame must be complete within this (`limits.frameReadTimeoutMs`); 0 = no limit. */
  frameReadTimeoutMs?: number;
  /** Warnings a peer can provoke are rate-limited through this (default: one limiter per listener). */
  warnings?: RateLimitedLog;
}

export class ProxyListener {
  readonly #server: net.Server;
  readonly #connections = new Set<ClientConnection>();
  readonly #opts: ListenerOptions;
  readonly #tls: TlsTerminator | null;
  /** The TCP sockets under this TLS listener's connections, handshake done or not (destroyed at shutdown). */
  readonly #handshaking = new Set<net.Socket>();
  readonly #events: SecurityEvents;
  readonly #warnings: RateLimitedLog;
  readonly name: string;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
    this.name = opts.name ?? 'default';
    this.#events = opts.events ?? NO_SECURITY_EVENTS;
    this.#warnings = opts.warnings ?? new RateLimitedLog();
    this.#tls = opts.tls === undefined ? null : new TlsTerminator({
      config: opts.tls,
      handshakeTimeoutMs: opts.tlsHandshakeTimeoutMs ?? 10_000,
      onSecure: (socket) => this.#startConnection(socket, peerPrincipal(socket)),
      onHandshakeError: (error, socket) => {
        this.#events.refused('tls_handshake_failed', this.name);
        this.#warnings.warn(opts.logger, 'TLS handshake failed', { listener: this.name, remote: `${socket.remoteAddress}:${socket.remotePort}`, code: error.code, err: error.message }, 'TLS handshake failed');
        socket.destroy();
      },
    });
    // Plain TCP: the accepted socket moves to one that reads into the shared buffer (shared-read-socket.ts).
    const plain = this.#tls === null;
    this.#server = net.createServer({ pauseOnConnect: plain }, (socket) => this.#accept(plain ? adoptForSharedReads(socket) : socket));
    this.#server.on('error', (err) => opts.logger.error({ err }, 'listener error'));
  }

  /** Re-reads the TLS certificate, key and client CA (SIGHUP); open connections keep their sessions. */
  reloadTls(): void {
    this.#tls?.reload();
  }

  get isTls(): boolean {
    return this.#tls !== null;
  }

  get connections(): ReadonlySet<ClientConnection> {
    return this.#connections;
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port, this.#opts.host, () => {
        this.#server.off('error', reject);
        const addr = this.#server.address() as net.AddressInfo;
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  #accept(socket: net.Socket): void {
    const limiter = this.#opts.limiter;
    if (limiter !== undefined) {
      const address = normalizeAddress(socket.remoteAddress);
      const refused = limiter.tryAcquire(address);
      if (refused !== null) {
        this.#events.limit(refused, this.name);
        this.#warnings.warn(this.#opts.logger, 'connection refused', { listener: this.name, remote: `${socket.remoteAddress}:${socket.remotePort}`, limit: refused }, 'connection refused: too many connections');
        socket.destroy();
        return;
      }
      socket.once('close', () => limiter.release(address));
    } else if (this.#connections.size >= this.#opts.maxConnections) {
      this.#events.limit('max_connections', this.name);
      this.#warnings.warn(this.#opts.logger, 'connection refused', { remote: `${socket.remoteAddress}:${socket.remotePort}`, limit: this.#opts.maxConnections }, 'connection refused: too many connections');
      socket.destroy();
      return;
    }
    if (this.#tls !== null) {
      this.#handshaking.add(socket);
      socket.once('close', () => this.#handshaking.delete(socket));
      this.#tls.accept(socket);
      return;
    }
    this.#startConnection(socket, null);
  }

  #startConnection(socket: net.Socket | tls.TLSSocket, principal: string | null): void {
    const conn = new ClientConnection({
      socket,
      logger: this.#opts.logger,
      maxFrameBytes: this.#opts.maxFrameBytes,
      maxInflightRequests: this.#opts.maxInflightRequestsPerConnection,
      dispatch: this.#opts.dispatch,
      onClose: (c) => {
        this.#connections.delete(c);
        this.#opts.onConnectionChange?.(this.#connections.size);
      },
      listener: this.name,
      ...(this.#opts.advertisedNodes !== undefined ? { advertisedNodes: this.#opts.advertisedNodes } : {}),
      ...(this.#opts.authenticator !== undefined ? { authenticator: this.#opts.authenticator } : {}),
      ...(this.#opts.idleTimeoutMs !== undefined ? { idleTimeoutMs: this.#opts.idleTimeoutMs } : {}),
      onLimit: (limit) => this.#events.limit(limit, this.name),
      principal,
      ...(this.#opts.onRequestDone !== undefined ? { onRequestDone: this.#opts.onRequestDone } : {}),
      ...(this.#opts.memory !== undefined ? { memory: this.#opts.memory } : {}),
      ...(this.#opts.frameReadTimeoutMs !== undefined ? { frameReadTimeoutMs: this.#opts.frameReadTimeoutMs } : {}),
      warnings: this.#warnings,
    });
    this.#connections.add(conn);
    this.#opts.onConnectionChange?.(this.#connections.size);
  }

  /** Stops accepting; waits up to `graceMs` for in-flight requests; then closes every connection. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && [...this.#connections].some((c) => c.inflight > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const c of this.#connections) c.close('proxy shutting down');
    for (const s of this.#handshaking) s.destroy();
    await closed;
  }
}
