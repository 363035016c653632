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
}

let nextConnectionId = 1;

export class ClientConnection {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  readonly log: Logger;
  /** Filled from the ApiVersions v3+ request: the client's software name and version. */
  clientSoftware: { name: string; version: string } | null = null;
  clientId: string | null = null;
  /** The authenticated principal, once SASL exists on the client side; null on plaintext listeners. */
  principal: string | null = null;
  readonly #socket: net.Socket;
  readonly #frames: FrameReader;
  readonly #responses: ResponseQueue;
  readonly #opts: ClientConnectionOptions;
  #dispatching: Promise<void> = Promise.resolve();
  #queued = 0;
  #paused = false;
  #closed = false;

  constructor(opts: ClientConnectionOptions) {
    this.#opts = opts;
    this.#socket = opts.socket;
    this.remoteAddress = `${opts.socket.remoteAddress}:${opts.socket.remotePort}`;
    this.log = opts.logger.child({ conn: this.id, remote: this.remoteAddress });
    this.#frames = new FrameReader({ maxFrameBytes: opts.maxFrameBytes });
    this.#responses = new ResponseQueue((chunks) => this.#write(chunks));
    this.#socket.setNoDelay(true);
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (err) => this.log.debug({ err: err.message }, 'client socket error'));
    this.#socket.on('close', () => this.#onClose());
    this.#socket.on('drain', () => this.#maybeResume());
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

  #onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.#frames.push(chunk);
    } catch (err) {
      this.close(`bad frame: ${(err as Error).message}`);
      return;
    }
    for (const frame of frames) {
      if (this.#closed) return;
      this.#onFrame(frame);
    }
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
    return {
      send: (chunks) => {
        slot.fill(chunks);
        this.#maybeResume();
      },
      none: () => {
        slot.drop();
        this.#maybeResume();
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
    }
  }

  #maybeResume(): void {
    if (this.#paused && this.inflight < this.#opts.maxInflightRequests && this.#socket.writableLength < 4 * 1024 * 1024) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#opts.onClose?.(this);
  }
}
