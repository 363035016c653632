// The proxy's own SASL login to an upstream broker (PLAIN or SCRAM with the proxy's credentials for that
// cluster; a client's SCRAM exchange cannot be replayed upstream, docs/protocol-notes.md §g): SaslHandshake v1, then
// SaslAuthenticate round trips. Used right after ApiVersions on a new connection, and again for KIP-368
// re-authentication when the broker announced a session lifetime.
import { ApiKey, type RequestBodies, type ResponseBodies } from '../../protocol/messages/index.ts';
import type { SaslAuthenticateResponse } from '../../protocol/messages/sasl-authenticate-response.ts';
import { encodePlainMessage } from './plain.ts';
import { ScramClient, hashOf, type ScramMechanism } from './scram.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';

export const UPSTREAM_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type UpstreamSaslMechanism = (typeof UPSTREAM_SASL_MECHANISMS)[number];

export interface UpstreamSaslConfig {
  readonly mechanism: UpstreamSaslMechanism;
  readonly username: string;
  readonly password: string;
}

export class SaslLoginError extends Error {
  /** The broker's error code (58 = SASL_AUTHENTICATION_FAILED, 33 = mechanism not enabled), or null. */
  readonly errorCode: number | null;
  constructor(message: string, errorCode: number | null) {
    super(message);
    this.name = 'SaslLoginError';
    this.errorCode = errorCode;
  }
}

/** BrokerConnection.send, typed by API key. */
type Send = <K extends ApiKey>(apiKey: K, apiVersion: number, body: RequestBodies[K]) => Promise<ResponseBodies[K]>;

/** Logs in on a connection whose ApiVersions answer is `versions`; resolves with the session lifetime (0 = none). */
export async function saslLogin(send: Send, versions: ReadonlyMap<number, { min: number; max: number }>, cfg: UpstreamSaslConfig): Promise<{ sessionLifetimeMs: number }> {
  const authenticateRange = versions.get(ApiKey.SaslAuthenticate);
  const handshakeRange = versions.get(ApiKey.SaslHandshake);
  if (authenticateRange === undefined || handshakeRange === undefined || handshakeRange.max < 1) {
    throw new SaslLoginError('the broker does not offer SaslHandshake v1 and SaslAuthenticate (is this a SASL listener?)', null);
  }
  const handshake = await send(ApiKey.SaslHandshake, 1, { mechanism: cfg.mechanism });
  if (handshake.errorCode !== ErrorCode.NONE) {
    throw new SaslLoginError(`SaslHandshake ${cfg.mechanism} refused with error ${handshake.errorCode}; the broker offers ${handshake.mechanisms.join(', ') || 'nothing'}`, handshake.errorCode);
  }
  const version = Math.min(authenticateRange.max, 2);
  const round = async (authBytes: Buffer): Promise<SaslAuthenticateResponse> => {
    const res = await send(ApiKey.SaslAuthenticate, version, { authBytes });
    if (res.errorCode !== ErrorCode.NONE) {
      throw new SaslLoginError(`SASL ${cfg.mechanism} login as "${cfg.username}" failed: error ${res.errorCode}${res.errorMessage ? ` (${res.errorMessage})` : ''}`, res.errorCode);
    }
    return res;
  };
  let last: SaslAuthenticateResponse;
  if (cfg.mechanism === 'PLAIN') {
    last = await round(encodePlainMessage(cfg.username, cfg.password));
  } else {
    const scram = new ScramClient({ hash: hashOf(cfg.mechanism as ScramMechanism), username: cfg.username, password: cfg.password });
    const serverFirst = await round(scram.first());
    last = await round(await scram.final(serverFirst.authBytes));
    try {
      scram.verify(last.authBytes);
    } catch (error) {
      throw new SaslLoginError(`SASL ${cfg.mechanism}: ${(error as Error).message} (is this the right broker?)`, null);
    }
  }
  return { sessionLifetimeMs: Number(last.sessionLifetimeMs) };
}

/** When to re-authenticate: at a random 85-95 % of the lifetime, like the Java client (KIP-368). */
export function reauthenticationDelayMs(sessionLifetimeMs: number, random = Math.random): number {
  return Math.max(0, Math.floor(sessionLifetimeMs * (0.85 + 0.1 * random())));
}
