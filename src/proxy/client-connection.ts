// One producer's TCP connection to the proxy: socket → frames → header → handler → ordered responses.
//
// Requests are *dispatched* one at a time in arrival order (a request's upstream writes are all issued before
// the next request is looked at), which is what keeps a partition's batches in the client's order upstream even
// when a request has to wait (metadata lookup, a producer id, a cutover hold). Responses are released in request
// order by the ResponseQueue, however the upstream answers interleave.
import type net from 'node:net';
import type { Logger } from 'pino';
import { FrameReader } from '../../protocol/frame-reader.ts';
import { KafkaCodecError } from '../../protocol/errors.ts';
import { decodeRequestHeader } from '../../protocol/header.ts';
import { ResponseQueue, type ResponseSlot } from './response-queue.ts';
import type { RequestHeader } from '../../protocol/header.ts';

/** What a handler gets for one request. */
export interface RequestContext {
  header: RequestHeader;
  frame: Buffer;
  bodyOffset: number;
  connection: ClientConnection;
}

/**
 * A handler returns once the request has been dispatched (its upstream writes issued); it answers through
 * `slot` (possibly later). A slot is null when the request expects no answer (Produce with acks=0); handlers
 * that only know that after decoding call `ctx.connection.noResponse()`-style logic through `RequestOutcome`.
 */
export type Handler = (ctx: RequestContext, respond: Responder) => void | Promise<void>;

export interface Responder {
  /** The encoded response frame (size prefix included). */
  send(chunks: Buffer[]): void;
  /** This request gets no response (acks=0 Produce). */
  none(): void;
  /** Close the connection because of this request (a broker would too). */
  close(reason: string): void;
}

export interface ClientConnectionOptions {
  socket: net.Socket;
  logger: Logger;
  maxFrameBytes: number;
  /** Above this many unanswered requests the socket stops being read (backpressure on the client). */
  maxInflightRequests: number;
  dispatch: (apiKey: number) => Handler;
  onClose?: (conn: ClientConnection) => void;
  /** The listener's name (logs, metrics). Default "default". */
  listener?: string;
  /** Brokers to answer Metadata with on this listener (each listener advertises its own address). */
  advertisedNodes?: { nodeId: number; host: string; port: number }[];
  /** SASL listeners: the per-connection authenticator that gates every request (src/security/). */
  authenticator?: (conn: ClientConnection) => ConnectionAuthenticator;
  /** Closes the connection after this long without traffic while nothing is in flight; 0 = never. */
  idleTimeoutMs?: number;
  /** A limit fired on this connection (max frame size, idle timeout, max in-flight pause). */
  onLimit?: (limit: 'max_frame_bytes' | 'idle_timeout' | 'max_inflight_requests') => void;
  /** The authenticated principal from the TLS client certificate, if any (SASL overrides it). */
  principal?: string | null;
  /** A request was answered (or settled without an answer): its API key and seconds since it was read. */
  onRequestDone?: (apiKey: number, seconds: number) => void;
}

/**
 * Authentication of one connection (SASL): which requests may be dispatched now, and the raw-token mode of
 * SaslHandshake v0. Consulted at dispatch time, in request order, so a login that completes asynchronously is
 * complete before the next request is looked at.
 */
export interface ConnectionAuthenticator {
  /** APIs this connection advertises on top of the proxy's table (SaslHandshake, SaslAuthenticate). */
  readonly advertisedApis: readonly { apiKey: number; minVersion: number; maxVersion: number }[];
  /** True while the next frame is a raw SASL token (after SaslHandshake v0), not a Kafka request. */
  readonly expectsRawToken: boolean;
  handleRawToken(frame: Buffer, respond: Responder): void | Promise<void>;
  /** Null when a request with this API key may be dispatched now; otherwise why the connection closes. */
  refusal(apiKey: number): string | null;
  /** The connection closed. */
  dispose(): void;
}

let nextConnectionId = 1;

/** Kafka's `sasl.server.max.receive.size` default: the largest frame read from a client before it logged in. */
export const MAX_UNAUTHENTICATED_FRAME_BYTES = 512 * 1024;

export class ClientConnection {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  readonly log: Logger;
  /** Filled from the ApiVersions v3+ request: the client's software name and version. */
  clientSoftware: { name: string; version: string } | null = null;
  clientId: string | null = null;
  /** The authenticated principal: the SASL user, else the TLS client certificate's subject; null when anonymous. */
  principal: string | null = null;
  /** The listener this connection came through. */
  readonly listener: string;
  /** Metadata's broker list for this listener; undefined = the proxy's default nodes. */
  readonly advertisedNodes: { nodeId: number; host: string; port: number }[] | undefined;
  /** Set on SASL listeners. */
  readonly auth: ConnectionAuthenticator | null;
  readonly #socket: net.Socket;
  /** Until a SASL login succeeds the frame limit is small (unauthenticated peers must not make us allocate MiBs). */
  #frames: FrameReader;
  #fullFramesPending = false;
  readonly #responses: ResponseQueue;
  readonly #opts: ClientConnectionOptions;
  #dispatching: Promise<void> = Promise.resolve();
  #queued = 0;
  #paused = false;
  #closed = false;
  /** Closing once the queued responses are written (e.g. after a failed login's answer). */
  #ending = false;

  constructor(opts: ClientConnectionOptions) {
    this.#opts = opts;
    this.#socket = opts.socket;
    this.remoteAddress = `${opts.socket.remoteAddress}:${opts.socket.remotePort}`;
    this.listener = opts.listener ?? 'default';
    this.advertisedNodes = opts.advertisedNodes;
    this.principal = opts.principal ?? null;
    this.log = opts.logger.child({ conn: this.id, remote: this.remoteAddress, ...(opts.listener !== undefined ? { listener: opts.listener } : {}) });
    this.#frames = new FrameReader({ maxFrameBytes: opts.authenticator ? Math.min(opts.maxFrameBytes, MAX_UNAUTHENTICATED_FRAME_BYTES) : opts.maxFrameBytes });
    this.#responses = new ResponseQueue((chunks) => this.#write(chunks));
    this.#socket.setNoDelay(true);
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (err) => this.log.debug({ err: err.message }, 'client socket error'));
    this.#socket.on('close', () => this.#onClose());
    this.#socket.on('drain', () => this.#maybeResume());
    if (opts.idleTimeoutMs !== undefined && opts.idleTimeoutMs > 0) {
      this.#socket.setTimeout(opts.idleTimeoutMs);
      this.#socket.on('timeout', () => this.#onIdle());
    }
    this.auth = opts.authenticator?.(this) ?? null;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Requests read but not yet answered. */
  get inflight(): number {
    return this.#responses.pending + this.#queued;
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.log.warn({ reason, clientId: this.clientId }, 'closing client connection');
    this.#socket.destroy();
  }

  /**
   * Stops reading and closes once every response queued so far has been written (a failed SASL login's error
   * must reach the client before the connection goes, as with a broker).
   */
  closeAfterResponses(reason: string): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    this.log.warn({ reason, clientId: this.clientId, principal: this.principal }, 'closing client connection');
    this.#socket.pause();
    this.#endIfDrained();
  }

  #endIfDrained(): void {
    if (!this.#ending || this.#closed || this.#responses.pending > 0) return;
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 5_000).unref();
  }

  #onIdle(): void {
    if (this.inflight > 0) {
      // Waiting on upstream or a cutover hold is not idleness: look again after another period.
      this.#socket.setTimeout(this.#opts.idleTimeoutMs ?? 0);
      return;
    }
    this.#opts.onLimit?.('idle_timeout');
    this.close(`idle for ${this.#opts.idleTimeoutMs} ms`);
  }

  /** The SASL login succeeded: from the next frame boundary on, frames up to the configured maximum are read. */
  authenticated(): void {
    this.#fullFramesPending = true;
    this.#maybeUseFullFrames();
  }

  #maybeUseFullFrames(): void {
    if (this.#fullFramesPending && this.#frames.bufferedBytes === 0) {
      this.#frames = new FrameReader({ maxFrameBytes: this.#opts.maxFrameBytes });
      this.#fullFramesPending = false;
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#ending) return;
    this.#maybeUseFullFrames();
    let frames: Buffer[];
    try {
      frames = this.#frames.push(chunk);
    } catch (err) {
      const tooLarge = err instanceof KafkaCodecError && err.code === 'FRAME_TOO_LARGE';
      if (tooLarge) this.#opts.onLimit?.('max_frame_bytes');
      // 0x16 0x03 is a TLS record header: a TLS client on a plaintext listener reads as a huge frame size.
      const tlsHint = tooLarge && chunk[0] === 0x16 && chunk[1] === 0x03 ? ' (this looks like a TLS handshake on a plaintext listener)' : '';
      this.close(`bad frame: ${(err as Error).message}${tlsHint}`);
      return;
    }
    for (const frame of frames) {
      if (this.#closed || this.#ending) return;
      if (this.auth !== null) this.#onGuardedFrame(frame, this.auth);
      else this.#onFrame(frame);
    }
  }

  /**
   * A frame on a SASL listener. Whether it is a raw SASL token or a request, and whether that request is allowed
   * yet, depends on the logins before it; so all of that is decided when it is its turn to be dispatched.
   */
  #onGuardedFrame(frame: Buffer, auth: ConnectionAuthenticator): void {
    const slot = this.#responses.reserve();
    this.#queued++;
    this.#maybePause();
    const run = (): void | Promise<void> => {
      this.#queued--;
      if (this.#closed || this.#ending) {
        slot.drop();
        return;
      }
      if (auth.expectsRawToken) {
        const raw: RequestHeader = { requestApiKey: -1, requestApiVersion: 0, correlationId: 0, clientId: this.clientId };
        return auth.handleRawToken(frame, this.#responderFor(slot, raw));
      }
      let header: RequestHeader;
      let bodyOffset: number;
      try {
        ({ header, bodyOffset } = decodeRequestHeader(frame));
      } catch (err) {
        slot.drop();
        this.close(`undecodable request header: ${err instanceof KafkaCodecError ? err.message : String(err)}`);
        return;
      }
      this.clientId = header.clientId;
      const responder = this.#responderFor(slot, header);
      const refusal = auth.refusal(header.requestApiKey);
      if (refusal !== null) {
        responder.close(refusal);
        return;
      }
      return this.#opts.dispatch(header.requestApiKey)({ header, frame, bodyOffset, connection: this }, responder);
    };
    const failed = (err: unknown): void => {
      slot.drop();
      this.#handlerFailed(err, { requestApiKey: -1, requestApiVersion: 0, correlationId: 0, clientId: this.clientId });
    };
    this.#dispatching = this.#dispatching.then(run).catch(failed);
  }

  #onFrame(frame: Buffer): void {
    let header: RequestHeader;
    let bodyOffset: number;
    try {
      ({ header, bodyOffset } = decodeRequestHeader(frame));
    } catch (err) {
      this.close(`undecodable request header: ${err instanceof KafkaCodecError ? err.message : String(err)}`);
      return;
    }
    this.clientId = header.clientId;
    const slot = this.#responses.reserve();
    const handler = this.#opts.dispatch(header.requestApiKey);
    const ctx: RequestContext = { header, frame, bodyOffset, connection: this };
    const responder = this.#responderFor(slot, header);
    this.#queued++;
    this.#maybePause();
    // Fast path: nothing is waiting to be dispatched, so dispatch now without a microtask hop.
    const run = (): void | Promise<void> => {
      this.#queued--;
      try {
        return handler(ctx, responder);
      } catch (err) {
        this.#handlerFailed(err, header);
      }
    };
    this.#dispatching = this.#dispatching.then(run).catch((err) => this.#handlerFailed(err, header));
  }

  #handlerFailed(err: unknown, header: RequestHeader): void {
    if (err instanceof KafkaCodecError) {
      this.close(`undecodable request api=${header.requestApiKey} v${header.requestApiVersion}: ${err.message}`);
    } else {
      this.log.error({ err, api: header.requestApiKey, version: header.requestApiVersion }, 'request handler failed');
      this.close('internal error while handling a request');
    }
  }

  #responderFor(slot: ResponseSlot, header: RequestHeader): Responder {
    const readAt = performance.now();
    const done = this.#opts.onRequestDone;
    const observe = done === undefined ? () => undefined : () => done(header.requestApiKey, (performance.now() - readAt) / 1000);
    return {
      send: (chunks) => {
        observe();
        slot.fill(chunks);
        this.#maybeResume();
        this.#endIfDrained();
      },
      none: () => {
        observe();
        slot.drop();
        this.#maybeResume();
        this.#endIfDrained();
      },
      close: (reason) => {
        slot.drop();
        this.close(`${reason} (api=${header.requestApiKey} v${header.requestApiVersion} client=${header.clientId ?? '-'})`);
      },
    };
  }

  #write(chunks: Buffer[]): void {
    if (this.#closed) return;
    this.#socket.cork();
    for (const c of chunks) this.#socket.write(c);
    this.#socket.uncork();
  }

  #maybePause(): void {
    if (!this.#paused && this.inflight >= this.#opts.maxInflightRequests) {
      this.#paused = true;
      this.#socket.pause();
      this.#opts.onLimit?.('max_inflight_requests');
    }
  }

  #maybeResume(): void {
    if (this.#ending) return;
    if (this.#paused && this.inflight < this.#opts.maxInflightRequests && this.#socket.writableLength < 4 * 1024 * 1024) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.auth?.dispose();
    this.#opts.onClose?.(this);
  }
}
