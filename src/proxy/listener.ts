// The client-facing TCP listener: accepts producer connections and shuts down gracefully (stop accepting,
// let in-flight requests finish for a bounded time, then close what is left).
import net from 'node:net';
import type { Logger } from 'pino';
import { ClientConnection } from './client-connection.ts';
import type { Handler } from './client-connection.ts';

export interface ListenerOptions {
  host: string;
  port: number;
  logger: Logger;
  maxFrameBytes: number;
  maxInflightRequestsPerConnection: number;
  maxConnections: number;
  dispatch: (apiKey: number) => Handler;
  onConnectionChange?: (open: number) => void;
}

export class ProxyListener {
  readonly #server: net.Server;
  readonly #connections = new Set<ClientConnection>();
  readonly #opts: ListenerOptions;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
    this.#server = net.createServer((socket) => this.#accept(socket));
    this.#server.on('error', (err) => opts.logger.error({ err }, 'listener error'));
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
    if (this.#connections.size >= this.#opts.maxConnections) {
      this.#opts.logger.warn({ remote: `${socket.remoteAddress}:${socket.remotePort}`, limit: this.#opts.maxConnections }, 'connection refused: too many connections');
      socket.destroy();
      return;
    }
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
    await closed;
  }
}
