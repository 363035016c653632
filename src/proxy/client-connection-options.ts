// What a ClientConnection is built with (the listener passes its settings and the process-wide shared parts),
// and the frame limit before a SASL login.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AdvertisedNode, ConnectionAuthenticator, ConnectionView, Handler } from './handler.ts';
import type { RequestMemoryBudget } from './request-memory-budget.ts';
import type { RateLimitedLog } from '../rate-limited-log.ts';
import type { LimitName } from '../security/events.ts';
import type { ClientConnection } from './client-connection.ts';

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
  advertisedNodes?: AdvertisedNode[];
  /** SASL listeners: the per-connection authenticator that gates every request (src/security/). */
  authenticator?: (conn: ConnectionView) => ConnectionAuthenticator;
  /** Closes the connection after this long without traffic while nothing is in flight; 0 = never. */
  idleTimeoutMs?: number;
  /** A limit fired on this connection (max frame size, idle timeout, max in-flight pause, memory, frame deadline). */
  onLimit?: (limit: LimitName) => void;
  /** The authenticated principal from the TLS client certificate, if any (SASL overrides it). */
  principal?: string | null;
  /** A request was answered (or settled without an answer): its API key and seconds since it was read. */
  onRequestDone?: (apiKey: number, seconds: number) => void;
  /** Request bytes held by every connection together; reading pauses at frame boundaries while it is used up. */
  memory?: RequestMemoryBudget;
  /** A frame whose first bytes arrived must be complete within this many ms of reading; 0/undefined = no limit. */
  frameReadTimeoutMs?: number;
  /** Shared by the connections of a process, so that a peer cannot multiply warnings (default: one per process). */
  warnings?: RateLimitedLog;
}

/** Kafka's `sasl.server.max.receive.size` default: the largest frame read from a client before it logged in. */
export const MAX_UNAUTHENTICATED_FRAME_BYTES = 512 * 1024;
