// The "send" half of a Produce: the session's routed writes grouped by (cluster, upstream leader), one upstream
// Produce per group at the client's version, and each group's answer applied to its writes. When the whole client
// request goes to one broker (the common case) the upstream body is the client's body byte for byte (records
// patched in place), so nothing is re-encoded.
import { ApiKey } from '../../../protocol/messages/index.ts';
import { ZERO_UUID } from '../../../protocol/uuid.ts';
import type { ProduceRequest } from '../../../protocol/messages/produce-request.ts';
import type { PartitionProduceResponse, ProduceResponse } from '../../../protocol/messages/produce-response.ts';
import { ErrorCode } from '../../../protocol/kafka-errors.ts';
import type { Cluster } from '../../../routing/cluster.ts';
import { UpstreamError, type BrokerConnection } from '../../upstream/broker-connection.ts';
import type { ProxyContext } from '../proxy-context.ts';
import type { PartitionWrite } from './partition-write.ts';
import type { ProduceSession } from './produce-session.ts';

export interface UpstreamGroup {
  readonly cluster: Cluster;
  readonly leaderId: number;
  readonly writes: PartitionWrite[];
}

/** The unsettled writes grouped by (cluster, leader), in the client's order within each group. */
export function planUpstream(session: ProduceSession): UpstreamGroup[] {
  const groups: UpstreamGroup[] = [];
  for (const w of session.writes) {
    if (w.settled) continue;
    let g: UpstreamGroup | undefined;
    for (const x of groups) if (x.cluster === w.cluster && x.leaderId === w.leaderId) g = x;
    if (g === undefined) groups.push((g = { cluster: w.cluster!, leaderId: w.leaderId, writes: [] }));
    g.writes.push(w);
  }
  return groups;
}

/** What one Produce needs to send a group: the client's request and, when it can be forwarded whole, its body. */
export interface ProduceOrigin {
  readonly version: number;
  readonly request: ProduceRequest;
  /** The client's encoded body; usable only when one group carries every partition of the request. */
  readonly body: Buffer;
  /** The client connection's id: it picks the pooled upstream connection, which keeps its order. */
  readonly lane: number;
}

/** Called once per group, when every write of the group is settled, with the answer's throttle time. */
export type GroupDone = (throttleTimeMs: number) => void;

/**
 * Sends one group; `done` is called once all its writes are settled. Returns a promise only when no upstream
 * connection to the leader is open yet: it resolves once the write has been issued.
 */
export function sendGroup(px: ProxyContext, session: ProduceSession, origin: ProduceOrigin, g: UpstreamGroup, whole: boolean, done: GroupDone): void | Promise<void> {
  const client = px.clusters[g.cluster];
  const open = client.liveConnection(g.leaderId, origin.lane);
  if (open !== null) return sendOn(px, session, origin, g, whole, open, done);
  return client.connection(g.leaderId, origin.lane).then(
    (conn) => sendOn(px, session, origin, g, whole, conn, done),
    (err: unknown) => {
      client.refreshSoon(g.writes[0].topic);
      for (const w of g.writes) session.settleFailed(w, ErrorCode.NOT_LEADER_OR_FOLLOWER, `upstream ${g.cluster} broker ${g.leaderId} unreachable`);
      px.log.debug({ cluster: g.cluster, broker: g.leaderId, err: String(err) }, 'produce: upstream unreachable');
      done(0);
    },
  );
}

function sendOn(px: ProxyContext, session: ProduceSession, origin: ProduceOrigin, g: UpstreamGroup, whole: boolean, conn: BrokerConnection, done: GroupDone): void {
  const body = whole ? origin.body : groupRequest(origin.request, g.writes);
  px.metrics?.producedUpstream(g.cluster, g.writes);
  if (origin.request.acks === 0) {
    // acks=0: nothing comes back; the write is as good as the socket write.
    const written = conn.sendWithoutResponse(ApiKey.Produce, origin.version, body);
    for (const w of g.writes) {
      if (written) session.settleOk(w, OK_WITHOUT_ANSWER(w.partition));
      else session.settleFailed(w, ErrorCode.NOT_LEADER_OR_FOLLOWER, `upstream ${g.cluster} broker ${g.leaderId} connection closed`);
    }
    done(0);
    return;
  }
  const sent = Buffer.isBuffer(body) ? conn.sendEncoded(ApiKey.Produce, origin.version, body) : conn.send(ApiKey.Produce, origin.version, body);
  sent.then(
    (res) => done(applyAnswer(session, g, res)),
    (err: unknown) => {
      // The request may have reached the broker: its outcome is unknown. The client retries with the same
      // sequence numbers; the broker de-duplicates if it did write.
      px.clusters[g.cluster].refreshSoon(g.writes[0].topic);
      const msg = err instanceof UpstreamError ? err.message : String(err);
      for (const w of g.writes) session.settleFailed(w, ErrorCode.NOT_LEADER_OR_FOLLOWER, msg, true);
      done(0);
    },
  );
}

function OK_WITHOUT_ANSWER(index: number): PartitionProduceResponse {
  return { index, errorCode: ErrorCode.NONE, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n, recordErrors: [], errorMessage: null, currentLeader: NO_LEADER };
}

const NO_LEADER = Object.freeze({ leaderId: -1, leaderEpoch: -1 });

/** Applies an upstream answer to the group's writes; returns its throttle time. */
function applyAnswer(session: ProduceSession, g: UpstreamGroup, res: ProduceResponse): number {
  let i = 0;
  for (const tr of res.responses) {
    for (const pr of tr.partitionResponses) {
      // Brokers answer in request order; look further only when this one does not.
      let w: PartitionWrite | undefined = g.writes[i];
      if (w === undefined || w.topic !== tr.name || w.partition !== pr.index || w.settled) w = g.writes.find((x) => x.topic === tr.name && x.partition === pr.index && !x.settled);
      i++;
      if (w === undefined) continue;
      // KIP-951 leader hints name upstream brokers, which clients cannot reach: strip them, so the client
      // refreshes Metadata from the proxy instead.
      const answer = pr.currentLeader.leaderId === -1 ? pr : { ...pr, currentLeader: NO_LEADER };
      if (pr.errorCode === ErrorCode.NONE) session.settleOk(w, answer);
      else session.settleUpstreamError(w, answer);
    }
  }
  for (const w of g.writes) {
    if (!w.settled) session.settleFailed(w, ErrorCode.NOT_LEADER_OR_FOLLOWER, 'upstream answer lacked the partition', true);
  }
  return res.throttleTimeMs;
}

/** A Produce carrying only the group's partitions (when the client's request is split across brokers). */
function groupRequest(req: ProduceRequest, writes: readonly PartitionWrite[]): ProduceRequest {
  const topicData: ProduceRequest['topicData'] = [];
  for (const w of writes) {
    let t = topicData[topicData.length - 1];
    if (t === undefined || t.name !== w.topic) topicData.push((t = { name: w.topic, topicId: ZERO_UUID, partitionData: [] }));
    t.partitionData.push({ index: w.partition, records: w.records });
  }
  return { ...req, topicData };
}
