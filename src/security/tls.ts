// TLS for kmp: the client-facing terminator (certificate and key from files, optional client-certificate
// verification, reload without dropping connections) and the options of upstream TLS connections.
//
// The terminator is a tls.Server that never listens: the listener's own net.Server accepts TCP connections, applies
// the connection limits *before* any TLS work, and hands accepted sockets over with `emit('connection')`.
// `setSecureContext` swaps the certificate for new handshakes only; established sessions keep theirs.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';

export const CLIENT_AUTH_MODES = ['none', 'requested', 'required'] as const;
export type ClientAuthMode = (typeof CLIENT_AUTH_MODES)[number];

export interface ServerTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** Passphrase of an encrypted key. */
  readonly keyPassphrase?: string | undefined;
  /** CA bundle client certificates must chain to; required when clientAuth is not "none". */
  readonly clientCaFile?: string | undefined;
  readonly clientAuth: ClientAuthMode;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list; default: Node's. */
  readonly ciphers?: string | undefined;
}

export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new TlsConfigError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** Reads the files and checks that they form a usable context (key matches certificate, PEM parses). */
export function loadServerSecureContextOptions(cfg: ServerTlsConfig): tls.SecureContextOptions {
  const options: tls.SecureContextOptions = {
    cert: readPem(cfg.certFile, 'certificate'),
    key: readPem(cfg.keyFile, 'key'),
    minVersion: cfg.minVersion,
    ...(cfg.keyPassphrase !== undefined ? { passphrase: cfg.keyPassphrase } : {}),
    ...(cfg.clientCaFile !== undefined ? { ca: readPem(cfg.clientCaFile, 'client CA bundle') } : {}),
    ...(cfg.ciphers !== undefined ? { ciphers: cfg.ciphers } : {}),
  };
  try {
    tls.createSecureContext(options);
  } catch (error) {
    throw new TlsConfigError(`TLS certificate ${cfg.certFile} / key ${cfg.keyFile} unusable: ${(error as Error).message}`);
  }
  return options;
}

export interface TlsTerminatorOptions {
  readonly config: ServerTlsConfig;
  /** TLS handshakes not finished by then are dropped. */
  readonly handshakeTimeoutMs: number;
  /** A client finished the handshake (and, under mTLS, presented a trusted certificate). */
  readonly onSecure: (socket: tls.TLSSocket) => void;
  /** A handshake failed: untrusted or missing client certificate, timeout, not TLS at all, … */
  readonly onHandshakeError: (error: Error & { code?: string }, socket: tls.TLSSocket | net.Socket) => void;
}

export class TlsTerminator {
  readonly #server: tls.Server;
  readonly #opts: TlsTerminatorOptions;

  constructor(opts: TlsTerminatorOptions) {
    this.#opts = opts;
    const { clientAuth } = opts.config;
    this.#server = tls.createServer({
      ...loadServerSecureContextOptions(opts.config),
      requestCert: clientAuth !== 'none',
      rejectUnauthorized: clientAuth === 'required',
      handshakeTimeout: opts.handshakeTimeoutMs,
    });
    this.#server.on('secureConnection', (socket: tls.TLSSocket) => {
      // "requested": a client may come without a certificate, but one it does present must be trusted.
      if (clientAuth === 'requested' && !socket.authorized && hasPeerCertificate(socket)) {
        const error = Object.assign(new Error(`client certificate not trusted: ${String(socket.authorizationError)}`), { code: 'ERR_CLIENT_CERT_UNTRUSTED' });
        opts.onHandshakeError(error, socket);
        socket.destroy();
        return;
      }
      opts.onSecure(socket);
    });
    this.#server.on('tlsClientError', (error: Error & { code?: string }, socket: tls.TLSSocket) => {
      opts.onHandshakeError(error, socket);
    });
  }

  /** Starts the TLS handshake on an accepted TCP connection. */
  accept(socket: net.Socket): void {
    this.#server.emit('connection', socket);
  }

  /** Re-reads certificate, key and client CA; new handshakes use them. Throws (keeping the old ones) on error. */
  reload(): void {
    this.#server.setSecureContext(loadServerSecureContextOptions(this.#opts.config));
  }
}

function hasPeerCertificate(socket: tls.TLSSocket): boolean {
  const peer = socket.getPeerCertificate();
  return peer !== null && peer !== undefined && Object.keys(peer).length > 0;
}

/** The client certificate's subject as an RFC 2253 string (`CN=app,O=acme`), or null without a certificate. */
export function peerPrincipal(socket: tls.TLSSocket): string | null {
  if (!socket.authorized) return null;
  const peer = socket.getPeerCertificate();
  if (!peer || !peer.raw) return null;
  try {
    return new X509Certificate(peer.raw).subject.split('\n').reverse().join(',');
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Upstream

export interface UpstreamTlsConfig {
  readonly ca?: string | undefined;
  readonly caFile?: string | undefined;
  readonly cert?: string | undefined;
  readonly certFile?: string | undefined;
  readonly key?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly passphrase?: string | undefined;
  /** SNI name and the name the certificate is checked against; default: the broker's host (unless an IP). */
  readonly servername?: string | undefined;
  /** false: accept any certificate (testing only). */
  readonly rejectUnauthorized: boolean;
  /** false: trust the CA chain but do not compare the certificate's names with the broker's host. */
  readonly verifyHostname: boolean;
}

/** Reads the CA bundle and client certificate once; host-specific options come from `forHost`. */
export function loadUpstreamTls(cfg: UpstreamTlsConfig): { forHost(host: string): tls.ConnectionOptions } {
  const pick = (inline: string | undefined, file: string | undefined, what: string): string | Buffer | undefined =>
    inline ?? (file === undefined ? undefined : readPem(file, what));
  const ca = pick(cfg.ca, cfg.caFile, 'CA bundle');
  const cert = pick(cfg.cert, cfg.certFile, 'client certificate');
  const key = pick(cfg.key, cfg.keyFile, 'client key');
  const base: tls.ConnectionOptions = {
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(cfg.passphrase !== undefined ? { passphrase: cfg.passphrase } : {}),
    rejectUnauthorized: cfg.rejectUnauthorized,
    ...(cfg.verifyHostname ? {} : { checkServerIdentity: () => undefined }),
  };
  tls.createSecureContext(base); // fail at start on a broken bundle, not at the first connection
  return {
    forHost(host: string): tls.ConnectionOptions {
      const name = cfg.servername ?? host;
      // SNI carries host names only (RFC 6066); for an IP the certificate is still checked against the IP.
      return { ...base, ...(net.isIP(name) === 0 ? { servername: name } : {}), ...(cfg.servername !== undefined && cfg.verifyHostname ? { checkServerIdentity: (_h: string, c: tls.PeerCertificate) => tls.checkServerIdentity(name, c) } : {}) };
    },
  };
}
