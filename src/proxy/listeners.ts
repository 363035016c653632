// The client-facing listeners: the main one (proxy.listen) and proxy.listeners, each plaintext, TLS, SASL or SASL
// over TLS. Connection limits, the request-bytes budget and the rate limit of warnings clients can provoke are
// shared by all of them (src/security/), so one client cannot dodge a limit by switching listener.
import type { Logger } from 'pino';
import { listenerNodesOf, parseHostPort, type KmpConfig } from '../config/index.ts';
import type { ProxyMetrics } from '../metrics.ts';
import { RateLimitedLog } from '../rate-limited-log.ts';
import { ConnectionLimiter } from '../security/connection-limiter.ts';
import { createSaslAuthenticator, type SaslAuthenticatorFactory } from '../security/setup.ts';
import type { ClientConnection } from './client-connection.ts';
import type { Handler } from './handler.ts';
import { ProxyListener } from './listener.ts';
import { RequestMemoryBudget } from './request-memory-budget.ts';

/** Every listener as one (status, metrics, reload, shutdown). */
export interface ProxyListeners {
  /** Bound port per listener name ("default" = proxy.listen). */
  readonly ports: Readonly<Record<string, number>>;
  readonly requestMemory: RequestMemoryBudget;
  /** Open connections of every listener. */
  readonly connections: ReadonlySet<ClientConnection>;
  /** Requests in flight on every connection. */
  inflight(): number;
  /** Re-reads each TLS listener's certificate, then each SASL listener's credentials, through `attempt`. */
  reload(attempt: (what: string, fn: () => void) => void): void;
  close(graceMs: number): Promise<void>;
}

export interface ListenersOptions {
  readonly config: KmpConfig;
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly dispatch: (apiKey: number) => Handler;
  /** Logged with each listener's address. */
  readonly clusterId: string;
}

/** Builds every listener, then binds them in order; resolves once all of them listen. */
export async function startListeners(options: ListenersOptions): Promise<ProxyListeners> {
  const { config, log, metrics, dispatch } = options;
  const limits = config.proxy.limits;
  const securityEvents = metrics.securityEvents();
  const limiter = new ConnectionLimiter(limits);
  const requestMemory = new RequestMemoryBudget(limits.maxBufferedRequestBytes);
  const connectionWarnings = new RateLimitedLog();
  const listenerSpecs = [
    { name: 'default', listen: config.proxy.listen, advertised: config.proxy.advertised, tls: config.proxy.tls, sasl: config.proxy.sasl },
    ...config.proxy.listeners,
  ];
  const listeners: ProxyListener[] = [];
  const saslByListener = new Map<string, SaslAuthenticatorFactory>();
  const allConnections = () => listeners.flatMap((l) => [...l.connections]);
  for (const spec of listenerSpecs) {
    // The schema validated every address, so parsing cannot fail here.
    const address = parseHostPort(spec.listen)!;
    const sasl = spec.sasl === undefined ? undefined : createSaslAuthenticator({ listener: spec.name, sasl: spec.sasl, handshakeTimeoutMs: limits.saslHandshakeTimeoutMs, events: securityEvents });
    if (sasl !== undefined) saslByListener.set(spec.name, sasl);
    if (spec.sasl?.mechanisms.includes('PLAIN') && spec.tls === undefined) {
      log.warn({ listener: spec.name }, 'SASL/PLAIN on a listener without TLS: passwords cross the network in clear text');
    }
    listeners.push(new ProxyListener({
      name: spec.name,
      host: address.host,
      port: address.port,
      logger: log,
      maxFrameBytes: config.proxy.maxFrameBytes,
      maxInflightRequestsPerConnection: limits.maxInflightRequestsPerConnection,
      maxConnections: limits.maxConnections,
      limiter,
      idleTimeoutMs: limits.idleTimeoutMs,
      memory: requestMemory,
      frameReadTimeoutMs: limits.frameReadTimeoutMs,
      warnings: connectionWarnings,
      tlsHandshakeTimeoutMs: limits.saslHandshakeTimeoutMs,
      events: securityEvents,
      dispatch,
      ...(spec.name === 'default' ? {} : { advertisedNodes: listenerNodesOf(config, spec.name) }),
      ...(spec.tls !== undefined ? { tls: spec.tls } : {}),
      ...(sasl !== undefined ? { authenticator: sasl.authenticator } : {}),
      onConnectionChange: () => metrics.connections.set(listeners.reduce((n, l) => n + l.connections.size, 0)),
      onRequestDone: (apiKey, seconds) => metrics.observeRequest(apiKey, seconds),
    }));
  }
  const ports: Record<string, number> = {};
  for (const [i, l] of listeners.entries()) {
    const b = await l.listen();
    ports[l.name] = b.port;
    const spec = listenerSpecs[i];
    const security = `${spec.sasl ? `SASL_${spec.tls ? 'SSL' : 'PLAINTEXT'}` : spec.tls ? 'SSL' : 'PLAINTEXT'}`;
    log.info({
      listener: l.name, listen: `${b.host}:${b.port}`, advertised: spec.advertised, security, clusterId: options.clusterId,
      ...(spec.tls ? { clientAuth: spec.tls.clientAuth } : {}),
      ...(spec.sasl ? { mechanisms: spec.sasl.mechanisms, users: saslByListener.get(l.name)?.users } : {}),
    }, 'proxy listening');
  }
  return {
    ports,
    requestMemory,
    get connections(): ReadonlySet<ClientConnection> {
      return new Set(allConnections());
    },
    inflight: () => allConnections().reduce((n, c) => n + c.inflight, 0),
    reload: (attempt) => {
      for (const l of listeners) if (l.isTls) attempt(`listener ${l.name} TLS certificate`, () => l.reloadTls());
      for (const [name, sasl] of saslByListener) attempt(`listener ${name} SASL credentials`, () => sasl.reload());
    },
    close: async (graceMs) => {
      await Promise.all(listeners.map((l) => l.close(graceMs)));
    },
  };
}
