// One producer's TCP connection to the proxy: socket → frames → header → handler → ordered responses.
//
// Requests are *dispatched* one at a time in arrival order (a request's upstream writes are all issued before
// the next request is looked at), which is what keeps a partition's batches in the client's order upstream even
// when a request has to wait (metadata lookup, a producer id, a cutover hold). Responses are released in request
// order by the ResponseQueue, however the upstream answers interleave.
//
// A fatal frame (a bad size, an undecodable header, a request its handler cannot decode) ends the connection at
// its turn: what was read before it is dispatched and answered as usual (as a broker, which reads one request
// at a time, would), nothing read after it is dispatched (a Produce behind a garbage frame must not reach a
// cluster while its client never gets an answer).
import type net from 'node:net';
import type { Logger } from 'pino';
import { FrameReader } from '../../protocol/frame-reader.ts';
import { KafkaCodecError } from '../../protocol/errors.ts';
import { decodeRequestHeader } from '../../protocol/header.ts';
import type { RequestHeader } from '../../protocol/header.ts';
import { ResponseQueue, type ResponseSlot } from './response-queue.ts';
import type { AdvertisedNode, ConnectionAuthenticator, ConnectionView, RequestContext, Responder } from './handler.ts';
import type { MemoryPressureListener } from './request-memory-budget.ts';
import { RateLimitedLog } from '../rate-limited-log.ts';
import { MAX_UNAUTHENTICATED_FRAME_BYTES, type ClientConnectionOptions } from './client-connection-options.ts';
import { RequestCharges, type Charge } from './request-charges.ts';
import { FrameDeadline } from './frame-deadline.ts';
import { readsOf } from './shared-read-socket.ts';
import { DispatchQueue } from './dispatch-queue.ts';
import { giveFrameBack, takeClientFrame } from './frame-pool.ts';
import { writeFrame } from './write-frame.ts';

// Re-exported: the options and the unauthenticated frame limit have always been imported from here.
export { MAX_UNAUTHENTICATED_FRAME_BYTES, type ClientConnectionOptions } from './client-connection-options.ts';

const DEFAULT_WARNINGS = new RateLimitedLog();

let nextConnectionId = 1;

export class ClientConnection implements ConnectionView, MemoryPressureListener {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  readonly log: Logger;
  clientSoftware: { name: string; version: string } | null = null;
  clientId: string | null = null;
  principal: string | null = null;
  readonly listener: string;
  readonly advertisedNodes: AdvertisedNode[] | undefined;
  readonly auth: ConnectionAuthenticator | null;
  readonly #socket: net.Socket;
  /** Until a SASL login succeeds the frame limit is small (unauthenticated peers must not make us allocate MiBs). */
  #frames: FrameReader;
  /** The socket reads into a buffer reused after each chunk (shared-read-socket.ts): frames must be copied out. */
  #reusedChunks = false;
  #fullFramesPending = false;
  readonly #responses: ResponseQueue;
  readonly #opts: ClientConnectionOptions;
  readonly #warnings: RateLimitedLog;
  readonly #dispatch = new DispatchQueue();
  #queued = 0;
  /** Why reading is paused: too many unanswered requests, or the memory budget is used up. */
  readonly #pauseReasons = new Set<'inflight' | 'memory'>();
  #socketPaused = false;
  /** The socket closed. */
  #closed = false;
  /** close() was called: nothing more is dispatched or written. */
  #closing = false;
  /** A fatal frame was read: nothing after it is decoded or dispatched; the connection closes at its turn. */
  #stopped = false;
  /** Closing once the queued responses are written (e.g. after a failed login's answer). */
  #ending = false;
  readonly #charges: RequestCharges;
  readonly #frameDeadline: FrameDeadline;
  readonly #unsubscribeMemory: () => void;

  constructor(opts: ClientConnectionOptions) {
    this.#opts = opts;
    this.#socket = opts.socket;
    this.#charges = new RequestCharges(opts.memory);
    this.#frameDeadline = new FrameDeadline(opts.frameReadTimeoutMs ?? 0, () => this.#frameDeadlinePassed());
    this.#warnings = opts.warnings ?? DEFAULT_WARNINGS;
    this.remoteAddress = `${opts.socket.remoteAddress}:${opts.socket.remotePort}`;
    this.listener = opts.listener ?? 'default';
    this.advertisedNodes = opts.advertisedNodes;
    this.principal = opts.principal ?? null;
    this.log = opts.logger.child({ conn: this.id, remote: this.remoteAddress, ...(opts.listener !== undefined ? { listener: opts.listener } : {}) });
    this.#responses = new ResponseQueue((chunks) => this.#write(chunks));
    this.#socket.setNoDelay(true);
    this.#reusedChunks = readsOf(this.#socket, (chunk: Buffer) => this.#onData(chunk));
    this.#frames = this.#frameReader(opts.authenticator ? Math.min(opts.maxFrameBytes, MAX_UNAUTHENTICATED_FRAME_BYTES) : opts.maxFrameBytes);
    this.#socket.on('error', (err) => this.log.debug({ err: err.message }, 'client socket error'));
    this.#socket.on('close', () => this.#onClose());
    this.#socket.on('drain', () => this.#maybeResume());
    if (opts.idleTimeoutMs !== undefined && opts.idleTimeoutMs > 0) {
      this.#socket.setTimeout(opts.idleTimeoutMs);
      this.#socket.on('timeout', () => this.#onIdle());
    }
    this.#unsubscribeMemory = opts.memory?.subscribe(this) ?? (() => undefined);
    this.auth = opts.authenticator?.(this) ?? null;
    if (opts.memory?.exhausted) this.onMemoryPressure();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Requests read but not yet answered. */
  get inflight(): number {
    return this.#responses.pending + this.#queued;
  }

  close(reason: string): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.#warnings.warn(this.log, 'closing client connection', { reason, clientId: this.clientId }, 'closing client connection');
    this.#frameDeadline.clear();
    this.#socket.destroy();
  }

  /**
   * Stops reading and closes once every response queued so far has been written (a failed SASL login's error
   * must reach the client before the connection goes, as with a broker).
   */
  closeAfterResponses(reason: string): void {
    if (this.#closed || this.#closing || this.#ending) return;
    this.#ending = true;
    this.#warnings.warn(this.log, 'closing client connection', { reason, clientId: this.clientId, principal: this.principal }, 'closing client connection');
    this.#applyReading();
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
      this.#frames = this.#frameReader(this.#opts.maxFrameBytes);
      this.#fullFramesPending = false;
    }
  }

  #frameReader(maxFrameBytes: number): FrameReader {
    return new FrameReader({ maxFrameBytes, reusedChunks: this.#reusedChunks, allocate: takeClientFrame });
  }

  // ── memory budget (request-memory-budget.ts) ───────────────────────────────────────────────────────────────

  onMemoryPressure(): void {
    // A frame in progress is finished: its bytes are charged already and only completing it frees them.
    if (this.#frames.bufferedBytes === 0 && !this.#pauseReasons.has('memory')) {
      this.#pauseReasons.add('memory');
      this.#opts.onLimit?.('max_buffered_request_bytes');
      this.#applyReading();
    }
  }

  onMemoryAvailable(): void {
    if (this.#pauseReasons.delete('memory')) this.#applyReading();
  }

  #release(charge: Charge): void {
    this.#charges.release(charge);
  }

  // ── reading ────────────────────────────────────────────────────────────────────────────────────────────────

  #onData(chunk: Buffer): void {
    if (this.#ending || this.#closing || this.#stopped) return;
    this.#maybeUseFullFrames();
    let frames: Buffer[];
    try {
      frames = this.#frames.push(chunk);
    } catch (err) {
      const tooLarge = err instanceof KafkaCodecError && err.code === 'FRAME_TOO_LARGE';
      if (tooLarge) this.#opts.onLimit?.('max_frame_bytes');
      // 0x16 0x03 is a TLS record header: a TLS client on a plaintext listener reads as a huge frame size.
      const tlsHint = tooLarge && chunk[0] === 0x16 && chunk[1] === 0x03 ? ' (this looks like a TLS handshake on a plaintext listener)' : '';
      this.#stop(`bad frame: ${(err as Error).message}${tlsHint}`);
      return;
    }
    // The frame that was being assembled (if any) is the first one this chunk completes and is charged already;
    // a frame started in this chunk and not complete yet is charged its whole announced size now.
    const charges = this.#charges.chargeFrames(frames, this.#frames.pendingFrameSize);
    for (let i = 0; i < frames.length; i++) {
      if (this.#closing || this.#ending || this.#stopped) {
        // Read after a fatal frame (or a close): never dispatched.
        for (let j = i; j < charges.length; j++) this.#release(charges[j]);
        break;
      }
      if (this.auth !== null) this.#onGuardedFrame(frames[i], this.auth, charges[i]);
      else this.#onFrame(frames[i], charges[i]);
    }
    this.#afterRead(frames.length > 0);
  }

  /** After a chunk: the frame deadline, and a pause at this frame boundary if the memory budget is used up. */
  #afterRead(completedAFrame: boolean): void {
    if (this.#closing || this.#stopped) return;
    if (this.#frames.bufferedBytes === 0) this.#frameDeadline.clear();
    else if (completedAFrame) this.#restartFrameTimer();
    else if (!this.#frameDeadline.armed) this.#restartFrameTimer();
    if (this.#opts.memory?.exhausted) this.onMemoryPressure();
  }

  #restartFrameTimer(): void {
    if (this.#socketPaused) this.#frameDeadline.clear();
    else this.#frameDeadline.start();
  }

  #frameDeadlinePassed(): void {
    this.#opts.onLimit?.('frame_read_timeout');
    const announced = this.#frames.pendingFrameSize;
    this.close(`request frame not completed within ${this.#frameDeadline.ms} ms (${this.#frames.bufferedBytes} of ${announced > 0 ? announced : '?'} bytes read)`);
  }

  /**
   * A fatal frame: stop reading now, dispatch nothing read after it, and when its turn comes close once the
   * answers to what was read before it are written.
   */
  #stop(reason: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#frameDeadline.clear();
    this.#applyReading();
    this.#dispatch.enqueue(() => this.closeAfterResponses(reason), (err) => this.#handlerFailed(err, { requestApiKey: -1, requestApiVersion: 0, correlationId: 0, clientId: this.clientId }));
  }

  /**
   * A frame on a SASL listener. Whether it is a raw SASL token or a request, and whether that request is allowed
   * yet, depends on the logins before it; so all of that is decided when it is its turn to be dispatched.
   */
  #onGuardedFrame(frame: Buffer, auth: ConnectionAuthenticator, charge: Charge): void {
    const slot = this.#responses.reserve();
    this.#queued++;
    this.#maybePause();
    const run = (): void | Promise<void> => {
      this.#queued--;
      if (this.#closing || this.#closed || this.#ending) {
        this.#drop(slot, charge);
        return;
      }
      if (auth.expectsRawToken) {
        const raw: RequestHeader = { requestApiKey: -1, requestApiVersion: 0, correlationId: 0, clientId: this.clientId };
        return auth.handleRawToken(frame, this.#responderFor(slot, raw, charge));
      }
      let header: RequestHeader;
      let bodyOffset: number;
      try {
        ({ header, bodyOffset } = decodeRequestHeader(frame));
      } catch (err) {
        this.#drop(slot, charge);
        this.close(`undecodable request header: ${err instanceof KafkaCodecError ? err.message : String(err)}`);
        return;
      }
      this.clientId = header.clientId;
      const responder = this.#responderFor(slot, header, charge);
      const refusal = auth.refusal(header.requestApiKey);
      if (refusal !== null) {
        responder.close(refusal);
        return;
      }
      return this.#opts.dispatch(header.requestApiKey)({ header, frame, bodyOffset, connection: this, frameDone: giveFrameBack }, responder);
    };
    const failed = (err: unknown): void => {
      this.#drop(slot, charge);
      this.#handlerFailed(err, { requestApiKey: -1, requestApiVersion: 0, correlationId: 0, clientId: this.clientId });
    };
    this.#dispatch.enqueue(run, failed);
  }

  #onFrame(frame: Buffer, charge: Charge): void {
    let header: RequestHeader;
    let bodyOffset: number;
    try {
      ({ header, bodyOffset } = decodeRequestHeader(frame));
    } catch (err) {
      this.#release(charge);
      this.#stop(`undecodable request header: ${err instanceof KafkaCodecError ? err.message : String(err)}`);
      return;
    }
    this.clientId = header.clientId;
    const slot = this.#responses.reserve();
    const handler = this.#opts.dispatch(header.requestApiKey);
    const ctx: RequestContext = { header, frame, bodyOffset, connection: this, frameDone: giveFrameBack };
    const responder = this.#responderFor(slot, header, charge);
    this.#queued++;
    this.#maybePause();
    const run = (): void | Promise<void> => {
      this.#queued--;
      // An earlier request closed the connection (its handler failed, or it asked to): this one is not served.
      if (this.#closing || this.#closed || this.#ending) {
        this.#drop(slot, charge);
        return;
      }
      try {
        return handler(ctx, responder);
      } catch (err) {
        this.#drop(slot, charge);
        this.#handlerFailed(err, header);
      }
    };
    this.#dispatch.enqueue(run, (err) => {
      this.#drop(slot, charge);
      this.#handlerFailed(err, header);
    });
  }

  #drop(slot: ResponseSlot, charge: Charge): void {
    slot.drop();
    this.#release(charge);
    this.#endIfDrained();
  }

  #handlerFailed(err: unknown, header: RequestHeader): void {
    if (err instanceof KafkaCodecError) {
      // The answers to the requests before it are still due; nothing after it is dispatched (#ending).
      this.closeAfterResponses(`undecodable request api=${header.requestApiKey} v${header.requestApiVersion}: ${err.message}`);
    } else {
      this.log.error({ err, api: header.requestApiKey, version: header.requestApiVersion }, 'request handler failed');
      this.close('internal error while handling a request');
    }
  }

  #responderFor(slot: ResponseSlot, header: RequestHeader, charge: Charge): Responder {
    const readAt = performance.now();
    const done = this.#opts.onRequestDone;
    const observe = done === undefined ? () => undefined : () => done(header.requestApiKey, (performance.now() - readAt) / 1000);
    return {
      send: (chunks) => {
        observe();
        this.#release(charge);
        slot.fill(chunks);
        this.#maybeResume();
        this.#endIfDrained();
      },
      none: () => {
        observe();
        this.#release(charge);
        slot.drop();
        this.#maybeResume();
        this.#endIfDrained();
      },
      close: (reason) => {
        this.#drop(slot, charge);
        this.close(`${reason} (api=${header.requestApiKey} v${header.requestApiVersion} client=${header.clientId ?? '-'})`);
      },
    };
  }

  #write(chunks: Buffer[]): void {
    if (!this.#closed && !this.#closing) writeFrame(this.#socket, chunks);
  }

  // ── pausing ────────────────────────────────────────────────────────────────────────────────────────────────

  #maybePause(): void {
    if (!this.#pauseReasons.has('inflight') && this.inflight >= this.#opts.maxInflightRequests) {
      this.#pauseReasons.add('inflight');
      this.#applyReading();
      this.#opts.onLimit?.('max_inflight_requests');
    }
  }

  #maybeResume(): void {
    if (this.#pauseReasons.has('inflight') && this.inflight < this.#opts.maxInflightRequests && this.#socket.writableLength < 4 * 1024 * 1024) {
      this.#pauseReasons.delete('inflight');
      this.#applyReading();
    }
  }

  /** Reads while nothing says otherwise; the frame deadline only runs while the socket is read. */
  #applyReading(): void {
    const pause = this.#pauseReasons.size > 0 || this.#ending || this.#stopped || this.#closing;
    if (pause && !this.#socketPaused) {
      this.#socketPaused = true;
      this.#socket.pause();
      this.#frameDeadline.clear();
    } else if (!pause && this.#socketPaused) {
      this.#socketPaused = false;
      this.#socket.resume();
      if (this.#frames.bufferedBytes > 0) this.#restartFrameTimer();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#frameDeadline.clear();
    this.#unsubscribeMemory();
    this.#charges.releaseAll();
    this.auth?.dispose();
    this.#opts.onClose?.(this);
  }
}
