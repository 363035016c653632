// The contract between a client connection and the code that serves its requests (handlers, the SASL session).
// Kept apart from the connection's implementation so that handlers and src/security/ depend on what they use of
// a connection, not on ClientConnection itself (which owns the socket, framing and the response queue).
import type { Logger } from 'pino';
import type { RequestHeader } from '../../protocol/header.ts';

/** A proxy node as one listener advertises it in Metadata. */
export interface AdvertisedNode {
  nodeId: number;
  host: string;
  port: number;
}

/**
 * What a handler or an authenticator reads of (and may set on) the connection a request came in on.
 * Writable fields are filled by the requests that carry them (ApiVersions v3+, a SASL login).
 */
export interface ConnectionView {
  readonly id: number;
  readonly remoteAddress: string;
  /** From the ApiVersions v3+ request: the client's software name and version. */
  clientSoftware: { name: string; version: string } | null;
  /** The client id of the newest request header. */
  readonly clientId: string | null;
  /** The authenticated principal: the SASL user, else the TLS client certificate's subject; null when anonymous. */
  principal: string | null;
  /** The listener this connection came through. */
  readonly listener: string;
  /** Metadata's broker list for this listener; undefined = the proxy's default nodes. */
  readonly advertisedNodes: readonly AdvertisedNode[] | undefined;
  readonly log: Logger;
  /** Set on SASL listeners. */
  readonly auth: ConnectionAuthenticator | null;
  /** Closes now: queued answers are not written. */
  close(reason: string): void;
  /** Stops reading and closes once every answer queued so far has been written (a failed login's error first). */
  closeAfterResponses(reason: string): void;
  /** A SASL login succeeded: frames up to the configured maximum may now be read. */
  authenticated(): void;
}

/** What a handler gets for one request. */
export interface RequestContext {
  header: RequestHeader;
  /** The request frame without its size prefix; the body starts at `bodyOffset`. */
  frame: Buffer;
  bodyOffset: number;
  connection: ConnectionView;
  /**
   * The handler promises that nothing refers to `frame` or any view of it any more (upstream writes done, nothing
   * kept): its memory is reused for a later frame (frame-pool.ts). Optional to call; never call it otherwise.
   */
  frameDone?(): void;
}

/** How a request is settled: exactly one of these is called, now or later. */
export interface Responder {
  /** The encoded response frame (size prefix included). */
  send(chunks: Buffer[]): void;
  /** This request gets no response (acks=0 Produce). */
  none(): void;
  /** Close the connection because of this request (a broker would too). */
  close(reason: string): void;
}

/**
 * Serves one request. It returns (or its promise settles) once the request has been dispatched, i.e. its upstream
 * writes are issued, so the next request of the connection can be looked at; it answers through `respond`,
 * possibly later. A handler that learns only after decoding that no answer is due (Produce acks=0) calls
 * `respond.none()`. A thrown KafkaCodecError closes the connection as an undecodable request.
 */
export type Handler = (ctx: RequestContext, respond: Responder) => void | Promise<void>;

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
