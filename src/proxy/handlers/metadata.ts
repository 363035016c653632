// Metadata: the proxy is the cluster (docs/design.md §2). Brokers are the proxy instances; every partition's leader is a
// proxy node (a stable hash of topic and partition when there are several); partition counts and errors come
// from the cluster the topic is routed to. Upstream leader epochs and topic ids differ between clusters, so the
// proxy sends leader epoch -1 and its own name-derived topic id, which never change on a flip.
import { createHash } from 'node:crypto';
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import { uuidFromBytes } from '../../../protocol/uuid.ts';
import type { MetadataRequest } from '../../../protocol/messages/metadata-request.ts';
import {
  defaultMetadataResponse,
  defaultMetadataResponseBroker,
  defaultMetadataResponsePartition,
  defaultMetadataResponseTopic,
  type MetadataResponse,
} from '../../../protocol/messages/metadata-response.ts';
import type { Handler } from '../handler.ts';
import type { ProxyContext, ProxyNode } from '../proxy-context.ts';
import type { TopicMeta } from '../../upstream/cluster-client.ts';
import { ErrorCode } from '../../../protocol/kafka-errors.ts';

type TopicResponse = MetadataResponse['topics'][number];

/** Kafka's "not requested" value for authorized-operations fields. */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

/** A stable topic id derived from the name: the same through every flip and on every proxy instance. */
export function proxyTopicId(name: string): string {
  const h = createHash('sha256').update(`kmp-topic:${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x80; // mark it as a custom (version 8) UUID; never all zeros
  h[8] = (h[8] & 0x3f) | 0x80;
  return uuidFromBytes(h, 0);
}

/** The proxy node that leads a partition: stable for a (topic, partition), spread across instances. */
export function leaderNodeFor(nodes: readonly ProxyNode[], topic: string, partition: number): number {
  if (nodes.length === 1) return nodes[0].nodeId;
  const h = createHash('sha1').update(`${topic}\u0000${partition}`).digest().readUInt32BE(0);
  return nodes[h % nodes.length].nodeId;
}

function topicResponse(px: ProxyContext, meta: TopicMeta): TopicResponse {
  return {
    ...defaultMetadataResponseTopic(),
    errorCode: meta.errorCode,
    name: meta.name,
    topicId: meta.errorCode === ErrorCode.NONE ? proxyTopicId(meta.name) : '00000000-0000-0000-0000-000000000000',
    isInternal: meta.isInternal,
    partitions: meta.partitions.map((p) => {
      // A fleet assigns each partition to one live instance (src/fleet/leadership-concern.ts refuses the rest).
      const leader = p.leaderId < 0 ? -1 : px.leaderOf !== undefined ? px.leaderOf(meta.name, p.partition) : leaderNodeFor(px.nodes, meta.name, p.partition);
      return {
        ...defaultMetadataResponsePartition(),
        errorCode: p.errorCode,
        partitionIndex: p.partition,
        leaderId: leader,
        leaderEpoch: -1,
        replicaNodes: leader >= 0 ? [leader] : [],
        isrNodes: leader >= 0 ? [leader] : [],
        offlineReplicas: [],
      };
    }),
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

export function metadataHandler(px: ProxyContext): Handler {
  return async (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.Metadata, version, new Reader(ctx.frame, ctx.bodyOffset)) as MetadataRequest;
    // v0: an empty list means "all topics"; v1+: null means all, empty means none.
    const all = req.topics === null || (version === 0 && req.topics.length === 0);
    // Auto-creation is decided by the routed cluster; v0-3 had no flag and always allowed it.
    const allowAutoCreate = version < 4 ? true : req.allowAutoTopicCreation;
    let topics: TopicResponse[];
    if (all) {
      // A cluster that is down lists nothing: the topics of the other one are still answered (a client asks for
      // all topics when it starts, and must be able to start while one cluster is up).
      const lists = await Promise.all((['source', 'target'] as const).map(async (c) => ({
        c,
        list: await px.clusters[c].allTopics().catch((err: unknown) => {
          px.log.debug({ cluster: c, err: String(err) }, 'metadata: listing all topics failed');
          return [];
        }),
      })));
      topics = [];
      for (const { c, list } of lists) {
        for (const meta of list) if (!meta.isInternal && px.router.clusterOf(meta.name) === c) topics.push(topicResponse(px, meta));
      }
    } else {
      topics = await Promise.all(
        (req.topics ?? []).map(async (t) => {
          const name = t.name ?? '';
          const cluster = px.router.clusterOf(name);
          try {
            return topicResponse(px, await px.clusters[cluster].topic(name, { allowAutoCreate, refresh: false }));
          } catch (err) {
            px.log.debug({ topic: name, cluster, err: String(err) }, 'metadata: upstream lookup failed');
            return topicResponse(px, { name, errorCode: ErrorCode.LEADER_NOT_AVAILABLE, topicId: '', isInternal: false, partitions: [], fetchedAt: 0 });
          }
        }),
      );
    }
    const body: MetadataResponse = {
      ...defaultMetadataResponse(),
      throttleTimeMs: 0,
      // Each listener advertises its own address for the same node ids (a TLS client must stay on TLS).
      brokers: (px.leaderOf !== undefined ? px.nodes : (ctx.connection.advertisedNodes ?? px.nodes)).map((n) => ({ ...defaultMetadataResponseBroker(), nodeId: n.nodeId, host: n.host, port: n.port, rack: null })),
      clusterId: px.clusterId,
      // kafkajs sends InitProducerId to the controller and fails if it is not among the brokers.
      controllerId: px.nodes[0].nodeId,
      topics,
      clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
      errorCode: ErrorCode.NONE,
    };
    respond.send(encodeResponseFrame(ApiKey.Metadata, version, ctx.header.correlationId, body));
  };
}
