// The proxy's client for one upstream cluster (source or target): bootstrap, a metadata cache, a small pool of
// connections per broker, reconnect with backoff. Everything here is per cluster, so broker ids and topic
// metadata of the two clusters never mix.
import { BoundedMap } from '../../routing/bounded-map.ts';
import type { Logger } from 'pino';
import type tls from 'node:tls';
import type { UpstreamSaslConfig } from '../security/sasl-client.ts';
import { BrokerConnection, UpstreamError, type VersionRange } from './broker-connection.ts';
import { ApiKey } from '../../protocol/messages/index.ts';
import type { MetadataResponse } from '../../protocol/messages/metadata-response.ts';
import { defaultInitProducerIdRequest } from '../../protocol/messages/init-producer-id-request.ts';
import { defaultMetadataRequest } from '../../protocol/messages/metadata-request.ts';
import { defaultDescribeConfigsRequest } from '../../protocol/messages/describe-configs-request.ts';
import type { DescribeConfigsResponse } from '../../protocol/messages/describe-configs-response.ts';
import { defaultCreateTopicsRequest } from '../../protocol/messages/create-topics-request.ts';
import type { CreateTopicsResponse } from '../../protocol/messages/create-topics-response.ts';
import type { Cluster as ClusterName } from '../../routing/cluster.ts';
import { ErrorCode, errorName } from '../../protocol/kafka-errors.ts';

export interface PartitionMeta {
  partition: number;
  errorCode: number;
  leaderId: number;
}

export interface TopicMeta {
  name: string;
  errorCode: number;
  topicId: string;
  isInternal: boolean;
  partitions: PartitionMeta[];
  fetchedAt: number;
}

export interface ClusterClientOptions {
  name: ClusterName;
  bootstrap: string[];
  requestTimeoutMs: number;
  metadataTtlMs: number;
  maxFrameBytes: number;
  logger: Logger;
  /** An upstream answer arrived: API key and seconds since the request was written (metrics). */
  onUpstreamResponse?: (cluster: ClusterName, apiKey: number, seconds: number) => void;
  /** Size of the connection pool per broker (default 4); see connection(). */
  connectionsPerBroker?: number;
  /** Called on every upstream connection state change (metrics, status). */
  onBrokerState?: (cluster: ClusterName, broker: string, up: boolean) => void;
  /** TLS/SASL for new connections to a broker; asked on every connect, so a SIGHUP reload applies to new ones. */
  security?: () => { tls?: (host: string) => tls.ConnectionOptions; sasl?: UpstreamSaslConfig };
}

const METADATA_VERSION_MAX = 12;
/** Retries of InitProducerId while the cluster's coordinator starts (about 4 s in all with the back-off). */
const INIT_PRODUCER_ID_RETRIES = 10;
const TOPIC_RESOURCE = 2;

function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

export class ClusterClient {
  readonly name: ClusterName;
  readonly #opts: ClusterClientOptions;
  readonly #log: Logger;
  /** node id → address, from the newest Metadata answer. */
  #brokers = new Map<number, { host: string; port: number }>();
  /** address key → live connection or a pending connect. */
  #connections = new Map<string, Promise<BrokerConnection>>();
  /** Live pooled connections per broker address (the broker counts as up while any is). */
  #liveLanes = new Map<string, number>();
  readonly #lanes: number;
  #backoffUntil = new Map<string, { until: number; delayMs: number; reason: string }>();
  /** Topic metadata with the time it expires (performance.now() ms): a hit is one Map read and a compare. */
  #topics: BoundedMap<string, { meta: TopicMeta; expiresAt: number }>;
  #inflightMetadata = new Map<string, Promise<TopicMeta>>();
  /** Version ranges every known broker of this cluster supports (intersection). */
  #versions: Map<number, VersionRange> | null = null;
  #clusterId: string | null = null;
  #ready = false;
  /** Open pooled connections by pool key, for the synchronous lookup on the hot path. */
  #open = new Map<string, BrokerConnection>();
  #versionsGeneration = 0;

  constructor(opts: ClusterClientOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#lanes = Math.max(1, opts.connectionsPerBroker ?? 4);
    this.#log = opts.logger.child({ cluster: opts.name });
    this.#topics = new BoundedMap(100_000);
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Pooled connections per broker: the lanes connection(nodeId, lane) spreads client connections over. */
  get lanes(): number {
    return this.#lanes;
  }

  get clusterId(): string | null {
    return this.#clusterId;
  }

  /** Changes whenever `versions` changes (the advertised API table is recomputed then, not per request). */
  get versionsGeneration(): number {
    return this.#versionsGeneration;
  }

  /** Node ids of the brokers in the newest Metadata answer (requests that every broker answers for its share, e.g. ListGroups). */
  get brokerIds(): readonly number[] {
    return [...this.#brokers.keys()];
  }

  /** API version ranges supported by this cluster (intersection over the brokers we talked to). */
  get versions(): Map<number, VersionRange> | null {
    return this.#versions;
  }

  /** Connects to a bootstrap broker and loads the broker list; retried by callers until it succeeds. */
  async start(): Promise<void> {
    await this.#metadataRequest(null);
    this.#ready = true;
  }

  /** Cached topic metadata, or undefined on a miss (the hot path's synchronous lookup; see topic()). */
  cachedTopic(name: string): TopicMeta | undefined {
    const hit = this.#topics.get(name);
    if (hit === undefined) return undefined;
    if (hit.expiresAt > performance.now()) return hit.meta;
    this.#topics.delete(name);
    return undefined;
  }

  /** Cached topic metadata, fetched (and de-duplicated across callers) on a miss. */
  async topic(name: string, opts: { allowAutoCreate?: boolean; refresh?: boolean } = {}): Promise<TopicMeta> {
    if (!opts.refresh) {
      const hit = this.cachedTopic(name);
      if (hit) return hit;
    }
    const key = `${name}\u0000${opts.allowAutoCreate ? 1 : 0}`;
    let p = this.#inflightMetadata.get(key);
    if (!p) {
      p = this.#metadataRequest([name], opts.allowAutoCreate ?? false)
        .then((metas) => metas.get(name) ?? { name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, topicId: '', isInternal: false, partitions: [], fetchedAt: Date.now() })
        .finally(() => this.#inflightMetadata.delete(key));
      this.#inflightMetadata.set(key, p);
    }
    return p;
  }

  /** Metadata for every topic of the cluster (Metadata with topics = null). */
  async allTopics(): Promise<TopicMeta[]> {
    return [...(await this.#metadataRequest(null)).values()];
  }

  /** Forget a topic's metadata (after a leader error) so the next lookup asks the cluster again. */
  invalidate(topic: string): void {
    this.#topics.delete(topic);
  }

  /** Refresh a topic's metadata in the background, e.g. after NOT_LEADER_OR_FOLLOWER. */
  refreshSoon(topic: string): void {
    this.invalidate(topic);
    this.topic(topic).catch((err) => this.#log.debug({ topic, err: String(err) }, 'background metadata refresh failed'));
  }

  /**
   * A connection to a broker by node id; connects (with backoff) when needed. A broker works on one request per
   * connection at a time, so each broker gets a small pool (`connectionsPerBroker`); `lane` picks the pool
   * member. A client connection always passes the same lane, so its requests stay in order on one connection.
   */
  connection(nodeId: number, lane = 0): Promise<BrokerConnection> {
    const addr = this.#brokers.get(nodeId);
    if (!addr) return Promise.reject(new UpstreamError('connection', `${this.name}: unknown broker id ${nodeId}`));
    return this.#connectionTo(addr.host, addr.port, lane % this.#lanes);
  }

  /** The pooled connection `connection(nodeId, lane)` would give, if it is open now; null otherwise (then ask connection()). */
  liveConnection(nodeId: number, lane = 0): BrokerConnection | null {
    const addr = this.#brokers.get(nodeId);
    if (!addr) return null;
    const l = lane % this.#lanes;
    const c = this.#open.get(l === 0 ? `${addr.host}:${addr.port}` : `${addr.host}:${addr.port}#${l}`);
    return c !== undefined && c.isOpen ? c : null;
  }

  /** Any live broker connection (bootstrap if none), for cluster-wide requests such as InitProducerId. */
  async anyConnection(): Promise<BrokerConnection> {
    for (const p of this.#connections.values()) {
      const c = await p.catch(() => null);
      if (c?.isOpen) return c;
    }
    const candidates = this.#brokers.size > 0 ? [...this.#brokers.values()] : this.#opts.bootstrap.map(parseHostPort);
    let last: unknown = null;
    for (const addr of candidates) {
      try {
        return await this.#connectionTo(addr.host, addr.port);
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new UpstreamError('connection', `${this.name}: no broker reachable`);
  }

  /** A fresh idempotent producer id from this cluster (non-transactional InitProducerId). */
  async initProducerId(): Promise<{ producerId: bigint; producerEpoch: number }> {
    // A broker answers COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR while its producer-id
    // machinery starts (a freshly started cluster creates __transaction_state first): retried here, briefly, like the
    // Java client does, so the first producer of a new cluster (or a move's warm-up) does not fail on it.
    for (let attempt = 0; ; attempt++) {
      const conn = await this.anyConnection();
      const version = Math.min(conn.versions.get(ApiKey.InitProducerId)?.max ?? 0, 4);
      const res = await conn.send(ApiKey.InitProducerId, version, {
        ...defaultInitProducerIdRequest(),
        transactionalId: null,
        transactionTimeoutMs: 2147483647,
        producerId: -1n,
        producerEpoch: -1,
      });
      if (res.errorCode === ErrorCode.NONE) return { producerId: res.producerId, producerEpoch: res.producerEpoch };
      const coordinatorStarting = res.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS || res.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE || res.errorCode === ErrorCode.NOT_COORDINATOR;
      if (!coordinatorStarting || attempt >= INIT_PRODUCER_ID_RETRIES) {
        throw new UpstreamError('protocol', `${this.name}: InitProducerId failed with error ${res.errorCode} (${errorName(res.errorCode)})`);
      }
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
    }
  }

  /** Topic configs (names → values) for pre-flight comparisons; one DescribeConfigs to any broker. */
  async topicConfigs(topics: readonly string[], keys: readonly string[]): Promise<Map<string, Map<string, string | null>>> {
    const conn = await this.anyConnection();
    const version = Math.min(conn.versions.get(ApiKey.DescribeConfigs)?.max ?? 1, 4);
    const res = (await conn.send(ApiKey.DescribeConfigs, version, {
      ...defaultDescribeConfigsRequest(),
      resources: topics.map((t) => ({ resourceType: TOPIC_RESOURCE, resourceName: t, configurationKeys: [...keys] })),
    })) as DescribeConfigsResponse;
    const out = new Map<string, Map<string, string | null>>();
    for (const r of res.results) {
      if (r.errorCode !== ErrorCode.NONE) continue;
      out.set(r.resourceName, new Map(r.configs.map((c) => [c.name, c.value])));
    }
    return out;
  }

  /**
   * CreateTopics (any KRaft broker forwards it to the controller). Per topic: error code and message, 0 when
   * created. `replicationFactor` -1 means the broker's default. The metadata cache learns of the topics on refresh.
   */
  async createTopics(
    topics: readonly { name: string; numPartitions: number; replicationFactor: number; configs: Readonly<Record<string, string>> }[],
    opts: { validateOnly?: boolean; timeoutMs?: number } = {},
  ): Promise<{ name: string; errorCode: number; errorMessage: string | null }[]> {
    const conn = await this.anyConnection();
    const version = Math.min(conn.versions.get(ApiKey.CreateTopics)?.max ?? 4, 7);
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const res = (await conn.send(ApiKey.CreateTopics, version, {
      ...defaultCreateTopicsRequest(),
      timeoutMs,
      validateOnly: opts.validateOnly ?? false,
      topics: topics.map((t) => ({
        name: t.name, numPartitions: t.numPartitions, replicationFactor: t.replicationFactor, assignments: [],
        configs: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
      })),
    }, { timeoutMs: timeoutMs + 5_000 })) as CreateTopicsResponse;
    return res.topics.map((t) => ({ name: t.name, errorCode: t.errorCode, errorMessage: t.errorMessage }));
  }

  close(): void {
    for (const p of this.#connections.values()) p.then((c) => c.close(), () => {});
    this.#connections.clear();
  }

  async #metadataRequest(topics: string[] | null, allowAutoCreate = false): Promise<Map<string, TopicMeta>> {
    const conn = await this.anyConnection();
    const version = Math.min(conn.versions.get(ApiKey.Metadata)?.max ?? 0, METADATA_VERSION_MAX);
    const res = (await conn.send(ApiKey.Metadata, version, {
      ...defaultMetadataRequest(),
      topics: topics === null ? null : topics.map((name) => ({ topicId: '00000000-0000-0000-0000-000000000000', name })),
      allowAutoTopicCreation: allowAutoCreate,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    })) as MetadataResponse;
    this.#clusterId = res.clusterId ?? this.#clusterId;
    if (res.brokers.length > 0) {
      this.#brokers = new Map(res.brokers.map((b) => [b.nodeId, { host: b.host, port: b.port }]));
    }
    const out = new Map<string, TopicMeta>();
    const now = Date.now();
    for (const t of res.topics) {
      if (t.name === null) continue;
      const meta: TopicMeta = {
        name: t.name,
        errorCode: t.errorCode,
        topicId: t.topicId,
        isInternal: t.isInternal,
        partitions: t.partitions
          .map((p) => ({ partition: p.partitionIndex, errorCode: p.errorCode, leaderId: p.leaderId }))
          .sort((a, b) => a.partition - b.partition),
        fetchedAt: now,
      };
      out.set(t.name, meta);
      // Errors are cached too, but briefly: a topic that is being created should show up soon.
      this.#topics.set(t.name, { meta, expiresAt: performance.now() + (meta.errorCode === ErrorCode.NONE ? this.#opts.metadataTtlMs : 500) });
    }
    return out;
  }

  #connectionTo(host: string, port: number, lane = 0): Promise<BrokerConnection> {
    const address = `${host}:${port}`;
    const key = lane === 0 ? address : `${address}#${lane}`;
    const existing = this.#connections.get(key);
    if (existing) return existing;
    // Back-off is per broker address: when one lane cannot connect, the others would not either.
    const backoff = this.#backoffUntil.get(address);
    if (backoff && backoff.until > Date.now()) {
      // Say why: callers (pre-flight, the admin API) pass this message on to the operator.
      return Promise.reject(new UpstreamError('connection', `${this.name} cluster unreachable: ${address} is backing off after a failure (${backoff.reason})`));
    }
    const security = this.#opts.security?.();
    const conn = new BrokerConnection({
      host, port,
      clientId: `kmp-${this.name}`,
      requestTimeoutMs: this.#opts.requestTimeoutMs,
      connectTimeoutMs: Math.min(this.#opts.requestTimeoutMs, 10_000),
      maxFrameBytes: this.#opts.maxFrameBytes,
      logger: this.#log,
      ...(security?.tls !== undefined ? { tls: security.tls(host) } : {}),
      ...(security?.sasl !== undefined ? { sasl: security.sasl } : {}),
      ...(this.#opts.onUpstreamResponse !== undefined
        ? { onResponse: (apiKey: number, seconds: number) => this.#opts.onUpstreamResponse!(this.name, apiKey, seconds) }
        : {}),
    });
    const p = conn.connect().then(
      () => {
        this.#backoffUntil.delete(address);
        this.#mergeVersions(conn.versions);
        this.#open.set(key, conn);
        const live = (this.#liveLanes.get(address) ?? 0) + 1;
        this.#liveLanes.set(address, live);
        this.#log.info({ broker: address, lane }, 'upstream connection established');
        if (live === 1) this.#opts.onBrokerState?.(this.name, address, true);
        conn.once('closed', (err: Error) => {
          if (this.#connections.get(key) === p) this.#connections.delete(key);
          if (this.#open.get(key) === conn) this.#open.delete(key);
          const left = (this.#liveLanes.get(address) ?? 1) - 1;
          this.#liveLanes.set(address, left);
          this.#log.warn({ broker: address, lane, reason: err.message }, 'upstream connection closed');
          if (left === 0) this.#opts.onBrokerState?.(this.name, address, false);
        });
        return conn;
      },
      (err: unknown) => {
        this.#connections.delete(key);
        const delayMs = Math.min((backoff?.delayMs ?? 50) * 2, 2_000);
        this.#backoffUntil.set(address, { until: Date.now() + delayMs, delayMs, reason: err instanceof Error ? err.message : String(err) });
        this.#log.warn({ broker: address, lane, err: String(err), retryInMs: delayMs }, 'upstream connect failed');
        if ((this.#liveLanes.get(address) ?? 0) === 0) this.#opts.onBrokerState?.(this.name, address, false);
        throw err;
      },
    );
    this.#connections.set(key, p);
    return p;
  }

  #mergeVersions(v: Map<number, VersionRange>): void {
    if (!this.#versions) {
      this.#versions = new Map(v);
      this.#versionsGeneration++;
      return;
    }
    for (const [k, r] of this.#versions) {
      const o = v.get(k);
      const min = o === undefined ? r.min : Math.max(r.min, o.min);
      const max = o === undefined ? r.max : Math.min(r.max, o.max);
      if (o === undefined) this.#versions.delete(k);
      else if (min !== r.min || max !== r.max) this.#versions.set(k, { min, max });
      else continue;
      this.#versionsGeneration++;
    }
  }
}
