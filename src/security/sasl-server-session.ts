// Client-facing SASL termination for one connection (docs/protocol-notes.md §g): the state machine behind SaslHandshake and
// SaslAuthenticate, and the gate that refuses every other request until the client has logged in.
//
//   awaiting handshake ──SaslHandshake(mech)──► authenticating ──SaslAuthenticate…──► authenticated
//        │ ApiVersions ok                          │ v0 handshake: raw tokens instead     │ KIP-368: SaslHandshake
//        └ anything else: close                    └ failure: error 58, then close        ▼ again = re-authentication
//
// - Handshake v0 (legacy): after it, the client sends raw SASL tokens framed only by an int32 length, and the
//   server answers the same way; a failure just closes the connection (there is no way to say why).
// - Handshake v1: tokens travel in SaslAuthenticate; a failure answers SASL_AUTHENTICATION_FAILED (58) with a
//   message, then the connection closes once that answer is written.
// - A login that does not complete within the handshake timeout closes the connection.
// - KIP-368: with a session lifetime, SaslAuthenticate v1+ tells the client when to re-authenticate; a client
//   re-authenticates on the same connection (same mechanism, same user), keeping its routing state and in-flight
//   requests. A request after the session expired closes the connection. Clients that cannot re-authenticate
//   (SaslAuthenticate v0) are closed at expiry as well, as brokers do.
import { ApiKey } from '../../protocol/messages/index.ts';
import type { ConnectionAuthenticator, ConnectionView, Responder } from '../proxy/handler.ts';
import type { CredentialStore } from './credentials.ts';
import type { SecurityEvents } from './events.ts';
import { PlainSaslError, parsePlainMessage } from './plain.ts';
import { ScramError, ScramServer, hashOf, type ScramMechanism } from './scram.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';

export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** The versions kmp serves; advertised on SASL listeners only. */
export const SASL_APIS = [
  { apiKey: ApiKey.SaslHandshake, minVersion: 0, maxVersion: 1 },
  { apiKey: ApiKey.SaslAuthenticate, minVersion: 0, maxVersion: 2 },
] as const;

export interface SaslListenerSettings {
  readonly listener: string;
  readonly mechanisms: readonly SaslMechanism[];
  /** The current credentials (a SIGHUP may replace them; each login uses the newest). */
  readonly credentials: () => CredentialStore;
  /** KIP-368 session lifetime; 0 = sessions do not expire. */
  readonly sessionLifetimeMs: number;
  /** A first login not completed by then closes the connection. */
  readonly handshakeTimeoutMs: number;
  readonly events: SecurityEvents;
  readonly now?: () => number;
}

export interface HandshakeOutcome {
  readonly errorCode: number;
  readonly mechanisms: string[];
  /** Close the connection after answering. */
  readonly close?: string;
}

export interface AuthenticateOutcome {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly authBytes: Buffer;
  readonly sessionLifetimeMs: bigint;
  readonly close?: string;
}

type Phase = 'handshake' | 'authenticating' | 'authenticated' | 'closed';

const EMPTY = Buffer.alloc(0);

export class SaslServerSession implements ConnectionAuthenticator {
  readonly advertisedApis = SASL_APIS;
  readonly #conn: ConnectionView;
  readonly #settings: SaslListenerSettings;
  readonly #now: () => number;
  #phase: Phase = 'handshake';
  #handshakeVersion = -1;
  #mechanism: SaslMechanism | null = null;
  #scram: ScramServer | null = null;
  /** Set by the first successful login; a re-authentication must present the same user. */
  #user: string | null = null;
  #reauthenticating = false;
  #expiresAt: number | null = null;
  #timer: NodeJS.Timeout | null;

  constructor(conn: ConnectionView, settings: SaslListenerSettings) {
    this.#conn = conn;
    this.#settings = settings;
    this.#now = settings.now ?? Date.now;
    this.#timer = setTimeout(() => this.#handshakeTimedOut(), settings.handshakeTimeoutMs);
    this.#timer.unref();
  }

  get authenticated(): boolean {
    return this.#user !== null;
  }

  get mechanism(): SaslMechanism | null {
    return this.#mechanism;
  }

  get expectsRawToken(): boolean {
    return this.#phase === 'authenticating' && this.#handshakeVersion === 0;
  }

  refusal(apiKey: number): string | null {
    const phase = this.#phase;
    if (apiKey === ApiKey.SaslHandshake) {
      return phase === 'handshake' || phase === 'authenticated' ? null : this.#refuse('SaslHandshake during an authentication exchange', 'illegal_sasl_state');
    }
    if (apiKey === ApiKey.SaslAuthenticate) {
      return phase === 'authenticating' ? null : this.#refuse('SaslAuthenticate without a SaslHandshake first', 'illegal_sasl_state');
    }
    if (apiKey === ApiKey.ApiVersions && phase === 'handshake') return null;
    if (this.#user === null) return this.#refuse(`request (API key ${apiKey}) before SASL authentication`, 'unauthenticated_request');
    if (this.#expiresAt !== null && this.#now() >= this.#expiresAt) {
      return this.#refuse('the SASL session expired (KIP-368) and the client did not re-authenticate', 'session_expired');
    }
    return null;
  }

  dispose(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#user !== null) this.#settings.events.principalDisconnected?.(this.#settings.listener, this.#user);
    this.#phase = 'closed';
  }

  /** SaslHandshake: choose the mechanism (first login or KIP-368 re-authentication). */
  handshake(mechanism: string, version: number): HandshakeOutcome {
    const enabled = [...this.#settings.mechanisms];
    if (this.#phase === 'authenticated') {
      // Re-authentication (KIP-368) needs SaslAuthenticate, so a v1 handshake, and keeps the mechanism.
      if (version < 1 || this.#handshakeVersion < 1) {
        return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled, close: 're-authentication needs SaslHandshake v1' };
      }
      if (mechanism !== this.#mechanism) {
        this.#settings.events.refused('unsupported_sasl_mechanism', this.#settings.listener);
        return { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: enabled, close: `re-authentication with ${mechanism} after logging in with ${this.#mechanism}` };
      }
      this.#reauthenticating = true;
    } else if (this.#phase !== 'handshake') {
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled, close: 'unexpected SaslHandshake' };
    } else if (!(enabled as string[]).includes(mechanism)) {
      this.#settings.events.refused('unsupported_sasl_mechanism', this.#settings.listener);
      return { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: enabled, close: `SASL mechanism ${mechanism} is not enabled on this listener` };
    }
    this.#mechanism = mechanism as SaslMechanism;
    this.#handshakeVersion = version;
    this.#phase = 'authenticating';
    this.#scram = null;
    return { errorCode: ErrorCode.NONE, mechanisms: enabled };
  }

  /** One SaslAuthenticate round trip (v0-2). */
  async authenticate(authBytes: Buffer, version: number): Promise<AuthenticateOutcome> {
    if (this.#phase !== 'authenticating' || this.#handshakeVersion < 1) {
      return this.#failure(ErrorCode.ILLEGAL_SASL_STATE, 'SaslAuthenticate is not expected now (SaslHandshake v1 first)');
    }
    const step = await this.#step(authBytes);
    if (!step.ok) return this.#failure(ErrorCode.SASL_AUTHENTICATION_FAILED, step.message);
    const lifetime = step.done && version >= 1 && this.#settings.sessionLifetimeMs > 0 ? BigInt(this.#settings.sessionLifetimeMs) : 0n;
    return { errorCode: ErrorCode.NONE, errorMessage: null, authBytes: step.response, sessionLifetimeMs: lifetime };
  }

  /** A raw token after SaslHandshake v0: answered with a raw token, or the connection closes. */
  async handleRawToken(frame: Buffer, respond: Responder): Promise<void> {
    const step = await this.#step(frame);
    if (!step.ok) {
      respond.close(`SASL authentication failed: ${step.message}`);
      return;
    }
    const size = Buffer.allocUnsafe(4);
    size.writeInt32BE(step.response.length, 0);
    respond.send([size, step.response]);
  }

  async #step(token: Buffer): Promise<{ ok: true; done: boolean; response: Buffer } | { ok: false; message: string }> {
    const mechanism = this.#mechanism as SaslMechanism;
    try {
      if (mechanism === 'PLAIN') {
        const { username, password } = parsePlainMessage(token);
        if (!(await this.#settings.credentials().verifyPlain(username, password))) return this.#failed('invalid credentials');
        return this.#loggedIn(username, EMPTY);
      }
      if (this.#scram === null) {
        const store = this.#settings.credentials();
        const scramMechanism = mechanism as ScramMechanism;
        this.#scram = new ScramServer({ hash: hashOf(scramMechanism), lookup: (user) => store.lookup(user, scramMechanism) });
      }
      const step = this.#scram.evaluate(token);
      if (!step.done) return { ok: true, done: false, response: step.response };
      return this.#loggedIn(step.username, step.response);
    } catch (error) {
      if (error instanceof ScramError || error instanceof PlainSaslError) return this.#failed(error.message);
      throw error;
    }
  }

  #loggedIn(username: string, response: Buffer): { ok: true; done: true; response: Buffer } | { ok: false; message: string } {
    const { listener, events } = this.#settings;
    if (this.#user !== null && this.#user !== username) return this.#failed('re-authentication as a different user');
    const reauth = this.#reauthenticating;
    this.#phase = 'authenticated';
    this.#reauthenticating = false;
    this.#scram = null;
    this.#user = username;
    this.#conn.principal = username;
    this.#conn.authenticated();
    this.#expiresAt = this.#settings.sessionLifetimeMs > 0 ? this.#now() + this.#settings.sessionLifetimeMs : null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    events.authenticated(listener, this.#mechanism as string, username, reauth);
    this.#conn.log.info({ principal: username, mechanism: this.#mechanism, reauthentication: reauth }, reauth ? 'SASL re-authentication succeeded' : 'SASL authentication succeeded');
    return { ok: true, done: true, response };
  }

  #failed(reason: string): { ok: false; message: string } {
    this.#settings.events.authenticationFailed(this.#settings.listener, this.#mechanism ?? 'none');
    this.#settings.events.refused('sasl_authentication_failed', this.#settings.listener);
    // Kafka's wording; the reason (which may hint at what was wrong) goes to the proxy's log only.
    this.#conn.log.warn({ mechanism: this.#mechanism, reason }, 'SASL authentication failed');
    this.#phase = 'closed';
    return { ok: false, message: `Authentication failed during authentication due to invalid credentials with SASL mechanism ${this.#mechanism}` };
  }

  #failure(errorCode: number, message: string): AuthenticateOutcome {
    this.#phase = 'closed';
    return { errorCode, errorMessage: message, authBytes: EMPTY, sessionLifetimeMs: 0n, close: message };
  }

  #refuse(reason: string, metricReason: string): string {
    this.#settings.events.refused(metricReason, this.#settings.listener);
    return reason;
  }

  #handshakeTimedOut(): void {
    this.#timer = null;
    if (this.#user !== null || this.#phase === 'closed') return;
    this.#settings.events.limit('sasl_handshake_timeout', this.#settings.listener);
    this.#conn.close(`SASL authentication not completed within ${this.#settings.handshakeTimeoutMs} ms`);
  }
}
