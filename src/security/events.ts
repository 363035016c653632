// What the security and limit code reports, so that metrics (and logs) can count it without the data path
// knowing about prom-client. src/proxy/listeners.ts implements this with ProxyMetrics.

/** Every configurable limit; each is counted (kmp_limit_hits_total{limit}) when it fires. */
export const LIMITS = [
  'max_connections',
  'max_connections_per_address',
  'idle_timeout',
  'sasl_handshake_timeout',
  'max_frame_bytes',
  'max_inflight_requests',
  'max_buffered_request_bytes',
  'frame_read_timeout',
] as const;
export type LimitName = (typeof LIMITS)[number];

export interface SecurityEvents {
  /** A limit fired (a connection refused or closed, or reading paused for max in-flight). */
  limit(limit: LimitName, listener: string): void;
  /** A connection was refused or closed for a security reason (TLS handshake, SASL, unauthenticated request). */
  refused(reason: string, listener: string): void;
  /** A SASL login (or KIP-368 re-authentication) succeeded. */
  authenticated(listener: string, mechanism: string, principal: string, reauthentication: boolean): void;
  /** A SASL login failed (wrong password, unknown user, malformed exchange). */
  authenticationFailed(listener: string, mechanism: string): void;
  /** An authenticated connection closed (for the per-principal connection gauge). */
  principalDisconnected?(listener: string, principal: string): void;
}

export const NO_SECURITY_EVENTS: SecurityEvents = {
  limit: () => {},
  refused: () => {},
  authenticated: () => {},
  authenticationFailed: () => {},
};
