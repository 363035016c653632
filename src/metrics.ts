// Prometheus metrics (prom-client). Topic labels are capped: the first `maxTopics` distinct topics get their own
// label value, later ones are counted under "__overflow__", so 50k topics cannot blow up a scrape.
import client from 'prom-client';
import type { Cluster } from '../routing/cluster.ts';
import { ApiKey } from '../protocol/messages/index.ts';
import type { DataPathMetrics } from './proxy/proxy-context.ts';
import type { SecurityEvents } from './security/events.ts';
import { ErrorCode, errorName } from '../protocol/kafka-errors.ts';

export const OVERFLOW_TOPIC = '__overflow__';

const API_NAMES = new Map<number, string>(Object.entries(ApiKey).map(([name, key]) => [key as number, name]));

/** A bounded label value for an API key: the API's name, or "unknown". */
export function apiName(apiKey: number): string {
  return API_NAMES.get(apiKey) ?? 'unknown';
}

export interface ProxyMetricsOptions {
  maxTopics?: number;
}

/**
 * The Produce counters of one (topic, cluster) as plain numbers: the hot path adds to them, and they reach
 * prom-client only when /metrics is scraped (the counters' collect()). A prom-client inc() validates and looks
 * up its label set every time, three times per partition of every request.
 */
interface ProduceCounters {
  readonly label: string;
  readonly cluster: Cluster;
  requests: number;
  bytes: number;
  records: number;
}

export class ProxyMetrics implements DataPathMetrics {
  readonly registry = new client.Registry();
  readonly #maxTopics: number;
  readonly #topics = new Set<string>();
  readonly produceRequests: client.Counter<'topic' | 'cluster'>;
  readonly produceBytes: client.Counter<'topic' | 'cluster'>;
  readonly produceRecords: client.Counter<'topic' | 'cluster'>;
  readonly produceErrors: client.Counter<'topic' | 'cluster' | 'error'>;
  readonly requestDuration: client.Histogram<'api'>;
  readonly upstreamDuration: client.Histogram<'cluster' | 'api'>;
  readonly connections: client.Gauge;
  readonly inflightRequests: client.Gauge;
  readonly heldRequests: client.Gauge;
  readonly flipHoldSeconds: client.Histogram<'action'>;
  readonly routeVersion: client.Gauge;
  readonly routeInfo: client.Gauge<'kind' | 'name' | 'cluster' | 'state'>;
  readonly upstreamBrokerUp: client.Gauge<'cluster' | 'broker'>;
  readonly refusedConnections: client.Counter<'reason'>;
  readonly limitHits: client.Counter<'limit' | 'listener'>;
  readonly saslAuthentications: client.Counter<'listener' | 'mechanism' | 'result'>;
  readonly authenticatedConnections: client.Gauge<'listener' | 'principal'>;
  readonly #principals = new Set<string>();

  constructor(opts: ProxyMetricsOptions = {}) {
    this.#maxTopics = opts.maxTopics ?? 1000;
    const r = [this.registry];
    // Filled from the hot path's plain counters when scraped (see ProduceCounters); collect runs for each of the three.
    const flush = (): void => this.#flushProduceCounters();
    this.produceRequests = new client.Counter({ collect: flush, name: 'kmp_produce_requests_total', help: 'Produce requests forwarded upstream, per topic and cluster (one per topic per upstream request).', labelNames: ['topic', 'cluster'], registers: r });
    this.produceBytes = new client.Counter({ collect: flush, name: 'kmp_produce_bytes_total', help: 'Record batch bytes forwarded upstream.', labelNames: ['topic', 'cluster'], registers: r });
    this.produceRecords = new client.Counter({ collect: flush, name: 'kmp_produce_records_total', help: 'Records forwarded upstream (from batch headers; records are never decoded).', labelNames: ['topic', 'cluster'], registers: r });
    this.produceErrors = new client.Counter({ name: 'kmp_produce_errors_total', help: 'Partition errors returned to producers.', labelNames: ['topic', 'cluster', 'error'], registers: r });
    this.requestDuration = new client.Histogram({ name: 'kmp_request_duration_seconds', help: 'Client-facing request duration, read to response.', labelNames: ['api'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: r });
    this.upstreamDuration = new client.Histogram({ name: 'kmp_upstream_request_duration_seconds', help: 'Upstream request duration.', labelNames: ['cluster', 'api'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: r });
    this.connections = new client.Gauge({ name: 'kmp_connections', help: 'Open client connections.', registers: r });
    this.inflightRequests = new client.Gauge({ name: 'kmp_inflight_requests', help: 'Client requests read but not yet answered.', registers: r });
    this.heldRequests = new client.Gauge({ name: 'kmp_held_requests', help: 'Partition admissions held by a cutover barrier right now.', registers: r });
    this.flipHoldSeconds = new client.Histogram({ name: 'kmp_flip_hold_seconds', help: 'How long a flip or rollback held writes.', labelNames: ['action'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r });
    this.routeVersion = new client.Gauge({ name: 'kmp_route_version', help: 'Version of the switch table in force.', registers: r });
    this.routeInfo = new client.Gauge({ name: 'kmp_route_info', help: 'Route of each batch and topic override (value 1).', labelNames: ['kind', 'name', 'cluster', 'state'], registers: r });
    this.upstreamBrokerUp = new client.Gauge({ name: 'kmp_upstream_broker_up', help: '1 while the proxy holds a live connection to the upstream broker.', labelNames: ['cluster', 'broker'], registers: r });
    this.refusedConnections = new client.Counter({ name: 'kmp_refused_connections_total', help: 'Client connections refused or closed by a limit or a protocol error.', labelNames: ['reason'], registers: r });
    this.limitHits = new client.Counter({ name: 'kmp_limit_hits_total', help: 'Times a configured limit fired: connection refused (max_connections, max_connections_per_address), closed (idle_timeout, sasl_handshake_timeout, max_frame_bytes) or paused (max_inflight_requests).', labelNames: ['limit', 'listener'], registers: r });
    this.saslAuthentications = new client.Counter({ name: 'kmp_sasl_authentications_total', help: 'Client SASL logins by result (success, reauthentication, failure).', labelNames: ['listener', 'mechanism', 'result'], registers: r });
    this.authenticatedConnections = new client.Gauge({ name: 'kmp_authenticated_connections', help: 'Open SASL-authenticated client connections per principal (principals capped like topics).', labelNames: ['listener', 'principal'], registers: r });
  }

  /** Security and limit events (src/security/events.ts) as counters and the per-principal gauge. */
  securityEvents(): SecurityEvents {
    return {
      limit: (limit, listener) => {
        this.limitHits.inc({ limit, listener });
        if (limit === 'max_connections' || limit === 'max_connections_per_address') this.refusedConnections.inc({ reason: limit });
      },
      refused: (reason) => this.refusedConnections.inc({ reason }),
      authenticated: (listener, mechanism, principal, reauthentication) => {
        this.saslAuthentications.inc({ listener, mechanism, result: reauthentication ? 'reauthentication' : 'success' });
        if (!reauthentication) this.authenticatedConnections.inc({ listener, principal: this.principalLabel(principal) });
      },
      authenticationFailed: (listener, mechanism) => this.saslAuthentications.inc({ listener, mechanism, result: 'failure' }),
      principalDisconnected: (listener, principal) => this.authenticatedConnections.dec({ listener, principal: this.principalLabel(principal) }),
    };
  }

  /** The label value for a principal, within the same cap as topics (principals come from the credentials file). */
  principalLabel(principal: string): string {
    if (this.#principals.has(principal)) return principal;
    if (this.#principals.size >= this.#maxTopics) return OVERFLOW_TOPIC;
    this.#principals.add(principal);
    return principal;
  }

  /** The label value for a topic, within the cardinality cap. */
  topicLabel(topic: string): string {
    if (this.#topics.has(topic)) return topic;
    if (this.#topics.size >= this.#maxTopics) return OVERFLOW_TOPIC;
    this.#topics.add(topic);
    return topic;
  }

  /**
   * The counters of one (topic, cluster), resolved once: prom-client hashes a label object on every inc(), which
   * on the Produce path (three counters per partition of every request) cost more than the rest of the metrics.
   */
  #produceCounters(topic: string, cluster: Cluster): ProduceCounters {
    const key = `${cluster}\u0000${topic}`;
    let c = this.#produceChildren.get(key);
    if (c === undefined) {
      const label = this.topicLabel(topic);
      if (label === OVERFLOW_TOPIC) {
        // Topics beyond the label cap share one overflow entry per cluster; the per-topic cache stays bounded.
        const overflowKey = `${cluster}\u0000\u0000overflow`;
        c = this.#produceChildren.get(overflowKey);
        if (c === undefined) this.#produceChildren.set(overflowKey, (c = { label, cluster, requests: 0, bytes: 0, records: 0 }));
        if (this.#produceChildren.size < 2 * this.#maxTopics) this.#produceChildren.set(key, c);
      } else {
        c = { label, cluster, requests: 0, bytes: 0, records: 0 };
        this.#produceChildren.set(key, c);
      }
    }
    return c;
  }

  readonly #produceChildren = new Map<string, ProduceCounters>();

  /** Moves what the hot path counted into the prom-client counters (runs when /metrics is scraped). */
  #flushProduceCounters(): void {
    const apply = (c: ProduceCounters): void => {
      if (c.requests > 0) this.produceRequests.inc({ topic: c.label, cluster: c.cluster }, c.requests);
      if (c.bytes > 0) this.produceBytes.inc({ topic: c.label, cluster: c.cluster }, c.bytes);
      if (c.records > 0) this.produceRecords.inc({ topic: c.label, cluster: c.cluster }, c.records);
      c.requests = 0;
      c.bytes = 0;
      c.records = 0;
    };
    for (const c of this.#produceChildren.values()) apply(c);
  }
  readonly #requestChildren = new Map<number, client.Histogram.Internal<'api'>>();
  readonly #upstreamChildren = new Map<string, client.Histogram.Internal<'cluster' | 'api'>>();

  /** A client request was answered after `seconds`. */
  observeRequest(apiKey: number, seconds: number): void {
    let h = this.#requestChildren.get(apiKey);
    if (h === undefined) this.#requestChildren.set(apiKey, (h = this.requestDuration.labels(apiName(apiKey))));
    h.observe(seconds);
  }

  /** An upstream answer arrived after `seconds`. */
  observeUpstream(cluster: Cluster, apiKey: number, seconds: number): void {
    const key = `${cluster}:${apiKey}`;
    let h = this.#upstreamChildren.get(key);
    if (h === undefined) this.#upstreamChildren.set(key, (h = this.upstreamDuration.labels(cluster, apiName(apiKey))));
    h.observe(seconds);
  }

  /** Entries were forwarded: their batches passed the header check, and recordCount comes from those headers. */
  producedUpstream(cluster: Cluster, entries: readonly { topic: string; records: Buffer | null; recordCount: number }[]): void {
    let lastTopic: string | null = null;
    for (const e of entries) {
      const c = this.#produceCounters(e.topic, cluster);
      if (e.topic !== lastTopic) c.requests++;
      lastTopic = e.topic;
      if (e.records === null || e.records.length === 0) continue;
      c.bytes += e.records.length;
      c.records += e.recordCount;
    }
  }

  producedResponse(entries: readonly { topic: string; cluster: Cluster | null; result: { errorCode: number } | null }[]): void {
    for (const e of entries) {
      const code = e.result?.errorCode ?? ErrorCode.NONE;
      if (code !== ErrorCode.NONE) this.produceErrors.inc({ topic: this.topicLabel(e.topic), cluster: e.cluster ?? 'none', error: errorName(code) });
    }
  }
}
