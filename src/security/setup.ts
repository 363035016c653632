// Builds the running security pieces from the validated config, each with a reload for SIGHUP: the SASL
// authenticator of a listener (credentials file re-read) and the upstream TLS/SASL settings of a cluster (CA
// bundle and client certificate re-read; new upstream connections use them, open ones keep their session).
import type tls from 'node:tls';
import type { ConnectionView } from '../proxy/handler.ts';
import { CredentialStore } from './credentials.ts';
import type { SecurityEvents } from './events.ts';
import { SaslServerSession, type SaslMechanism } from './sasl-server-session.ts';
import type { UpstreamSaslConfig } from './sasl-client.ts';
import { loadUpstreamTls, type UpstreamTlsConfig } from './tls.ts';

export interface ListenerSaslConfig {
  readonly mechanisms: readonly SaslMechanism[];
  readonly credentialsFile: string;
  readonly sessionLifetimeMs: number;
}

export interface SaslAuthenticatorFactory {
  readonly authenticator: (conn: ConnectionView) => SaslServerSession;
  /** Re-reads the credentials file; on error the previous users stay in force and the error is thrown. */
  reload(): void;
  readonly users: number;
}

export function createSaslAuthenticator(opts: {
  listener: string;
  sasl: ListenerSaslConfig;
  handshakeTimeoutMs: number;
  events: SecurityEvents;
}): SaslAuthenticatorFactory {
  let store = CredentialStore.load(opts.sasl.credentialsFile);
  const settings = {
    listener: opts.listener,
    mechanisms: opts.sasl.mechanisms,
    credentials: () => store,
    sessionLifetimeMs: opts.sasl.sessionLifetimeMs,
    handshakeTimeoutMs: opts.handshakeTimeoutMs,
    events: opts.events,
  };
  return {
    authenticator: (conn) => new SaslServerSession(conn, settings),
    reload() {
      store = CredentialStore.load(opts.sasl.credentialsFile);
    },
    get users() {
      return store.size;
    },
  };
}

export interface UpstreamSecurityConfig {
  readonly tls?: (UpstreamTlsConfig & { readonly enabled: boolean }) | undefined;
  readonly sasl?: UpstreamSaslConfig | undefined;
}

export interface UpstreamSecurity {
  /** What the cluster client asks on every new broker connection. */
  current(): { tls?: (host: string) => tls.ConnectionOptions; sasl?: UpstreamSaslConfig };
  reload(): void;
  /** For logs: "SASL_SSL (SCRAM-SHA-512 as kmp)", "PLAINTEXT", … */
  readonly description: string;
}

export function createUpstreamSecurity(cfg: UpstreamSecurityConfig): UpstreamSecurity {
  const tlsCfg = cfg.tls?.enabled === false ? undefined : cfg.tls;
  let tlsOptions = tlsCfg === undefined ? undefined : loadUpstreamTls(tlsCfg);
  const protocol = `${cfg.sasl ? 'SASL_' : ''}${tlsCfg ? 'SSL' : 'PLAINTEXT'}`;
  return {
    current() {
      return {
        ...(tlsOptions !== undefined ? { tls: (host: string) => (tlsOptions as ReturnType<typeof loadUpstreamTls>).forHost(host) } : {}),
        ...(cfg.sasl !== undefined ? { sasl: cfg.sasl } : {}),
      };
    },
    reload() {
      if (tlsCfg !== undefined) tlsOptions = loadUpstreamTls(tlsCfg);
    },
    description: cfg.sasl ? `${protocol} (${cfg.sasl.mechanism} as ${cfg.sasl.username})` : protocol,
  };
}
