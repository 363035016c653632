// Produce: split the client's request per partition by route and upstream leader, forward each group at the
// client's version, and merge the answers back in the client's order. Record data is never decoded or copied:
// each partition's `records` is a slice of the client's frame, written upstream as is; only the 61-byte batch
// header is touched when the producer id must be mapped for the destination cluster.
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import { ZERO_UUID } from '../../../protocol/uuid.ts';
import { rewriteProducer, splitBatches, type BatchView } from '../../../protocol/record-batch.ts';
import type { ProduceRequest } from '../../../protocol/messages/produce-request.ts';
import type { ProduceResponse } from '../../../protocol/messages/produce-response.ts';
import type { Cluster } from '../../../routing/cluster.ts';
import type { Handler } from '../handler.ts';
import type { ProxyContext } from '../proxy-context.ts';
import { isRejection, type CompletionOutcome, type Ticket } from '../../../routing/cutover-barrier.ts';
import type { BrokerConnection } from '../../upstream/broker-connection.ts';
import { UpstreamError } from '../../upstream/broker-connection.ts';
import { SequenceGuard } from '../sequence-guard.ts';
import { ErrorCode, isLeadershipError, isRetriable, mayHaveBeenWritten } from '../error-codes.ts';

type PartitionResponse = ProduceResponse['responses'][number]['partitionResponses'][number];

/** One partition of the client's request, in the client's order. */
interface Entry {
  topic: string;
  partition: number;
  records: Buffer | null;
  admission: Ticket | null;
  cluster: Cluster | null;
  result: PartitionResponse | null;
  /** Offsets the records take in the log (lastOffsetDelta + 1 per batch), for the ledger's last offset. */
  offsetSpan: number;
  /** Records in the batches (from their headers), for metrics. */
  recordCount: number;
  /** Idempotent batches: the sequence guard's key and the first batch's base sequence. */
  seqKey: string | null;
  baseSequence: number;
}

function partitionResponse(index: number, errorCode: number, errorMessage: string | null = null): PartitionResponse {
  return {
    index,
    errorCode,
    baseOffset: -1n,
    logAppendTimeMs: -1n,
    logStartOffset: -1n,
    recordErrors: [],
    errorMessage,
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
  } as PartitionResponse;
}

export function produceHandler(px: ProxyContext): Handler {
  return async (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    if (!px.acceptsVersion(ApiKey.Produce, version)) {
      // Kafka 4 brokers close the connection for Produce v0-2 (KIP-896); so do we.
      respond.close(`Produce v${version} is not supported (v3+ with record format 2 only)`);
      return;
    }
    const req = decodeRequestBody(ApiKey.Produce, version, new Reader(ctx.frame, ctx.bodyOffset)) as ProduceRequest;
    const acks = req.acks;
    if (acks === 0) respond.none();

    const entries: Entry[] = [];
    for (const t of req.topicData) {
      for (const p of t.partitionData) {
        entries.push({ topic: t.name, partition: p.index, records: p.records, admission: null, cluster: null, result: null, offsetSpan: 0, recordCount: 0, seqKey: null, baseSequence: -1 });
      }
    }

    if (req.transactionalId !== null) {
      // Transactions are not routed yet: refuse clearly instead of splitting a transaction across clusters.
      for (const e of entries) e.result = partitionResponse(e.partition, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'kmp does not support transactional producers yet');
      if (acks !== 0) respond.send(encodeProduceResponse(px, version, ctx.header.correlationId, req, entries, 0));
      return;
    }

    // Route every partition. Awaits happen only on a cold path (a metadata miss, a producer id to allocate, a
    // cutover hold); while a request waits, later requests of this connection wait behind it, which keeps order.
    const groups = new Map<string, { cluster: Cluster; leaderId: number; entries: Entry[] }>();
    const conn = ctx.connection;
    const who = px.inventory && {
      clientId: ctx.header.clientId,
      softwareName: conn.clientSoftware?.name ?? null,
      softwareVersion: conn.clientSoftware?.version ?? null,
      remoteAddress: conn.remoteAddress,
      principal: conn.principal,
    };
    for (const e of entries) {
      const admitted = px.router.admit(e.topic, e.partition);
      const adm = admitted instanceof Promise ? await admitted : admitted;
      if (isRejection(adm)) {
        e.result = partitionResponse(e.partition, adm.errorCode, `kmp: partition is moving between clusters (${adm.reason}), retry`);
        continue;
      }
      e.admission = adm;
      e.cluster = adm.cluster;
      if (who) px.inventory!.observe(who, e.topic, adm.cluster, e.records, req.transactionalId);
      let route: number | null;
      try {
        route = await routeEntry(px, e, adm);
      } catch (err) {
        // The routed cluster could not be asked (e.g. unreachable while its metadata expired): a retriable error
        // for this partition, and its ticket is settled so a cutover never waits for it.
        px.clusters[adm.cluster].refreshSoon(e.topic);
        fail(px, e, ErrorCode.LEADER_NOT_AVAILABLE, 'no', `kmp: ${adm.cluster} cluster unavailable: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      if (route === null) continue;
      const key = `${adm.cluster}/${route}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { cluster: adm.cluster, leaderId: route, entries: [] }));
      g.entries.push(e);
    }

    let throttleTimeMs = 0;
    const sends: Promise<void>[] = [];
    for (const g of groups.values()) {
      const client = px.clusters[g.cluster];
      let upstream: BrokerConnection;
      try {
        upstream = await client.connection(g.leaderId, ctx.connection.id);
      } catch (err) {
        client.refreshSoon(g.entries[0].topic);
        for (const e of g.entries) fail(px, e, ErrorCode.NOT_LEADER_OR_FOLLOWER, 'no', `upstream ${g.cluster} broker ${g.leaderId} unreachable`);
        px.log.debug({ cluster: g.cluster, broker: g.leaderId, err: String(err) }, 'produce: upstream unreachable');
        continue;
      }
      const upstreamReq = buildUpstreamRequest(req, g.entries);
      const sent = upstream.send(ApiKey.Produce, version, upstreamReq, { expectResponse: acks !== 0 });
      px.metrics?.producedUpstream(g.cluster, g.entries);
      sends.push(
        sent.then(
          (res) => {
            if (res === null) {
              // acks=0: nothing comes back, the write is as good as the socket write.
              for (const e of g.entries) complete(px, e, { ok: true, baseOffset: -1n });
              return;
            }
            const body = res as ProduceResponse;
            throttleTimeMs = Math.max(throttleTimeMs, body.throttleTimeMs);
            const byKey = new Map<string, PartitionResponse>();
            for (const tr of body.responses) for (const pr of tr.partitionResponses) byKey.set(`${tr.name}\u0000${pr.index}`, pr);
            for (const e of g.entries) {
              const pr = byKey.get(`${e.topic}\u0000${e.partition}`);
              if (!pr) {
                fail(px, e, ErrorCode.NOT_LEADER_OR_FOLLOWER, 'unknown', 'upstream answer lacked the partition');
                continue;
              }
              // KIP-951 leader hints name upstream brokers, which clients cannot reach: strip them, so the
              // client refreshes Metadata from the proxy instead.
              e.result = { ...pr, currentLeader: { leaderId: -1, leaderEpoch: -1 } } as PartitionResponse;
              if (pr.errorCode === 0) {
                const lastOffset = e.offsetSpan > 0 && pr.baseOffset >= 0n ? pr.baseOffset + BigInt(e.offsetSpan - 1) : undefined;
                complete(px, e, lastOffset === undefined ? { ok: true, baseOffset: pr.baseOffset } : { ok: true, baseOffset: pr.baseOffset, lastOffset });
              } else {
                if (isLeadershipError(pr.errorCode)) client.refreshSoon(e.topic);
                const written = mayHaveBeenWritten(pr.errorCode) ? 'unknown' : 'no';
                if (written === 'no' && e.seqKey !== null) px.sequences.notWritten(e.seqKey, e.baseSequence);
                complete(px, e, { ok: false, retriable: isRetriable(pr.errorCode), errorCode: pr.errorCode, written });
              }
            }
          },
          (err: unknown) => {
            // The request may have reached the broker: its outcome is unknown. The client retries with the same
            // sequence numbers; the broker de-duplicates if it did write.
            client.refreshSoon(g.entries[0].topic);
            const msg = err instanceof UpstreamError ? err.message : String(err);
            for (const e of g.entries) fail(px, e, ErrorCode.NOT_LEADER_OR_FOLLOWER, 'unknown', msg);
          },
        ),
      );
    }

    if (acks === 0) return;
    const correlationId = ctx.header.correlationId;
    Promise.all(sends)
      .then(() => respond.send(encodeProduceResponse(px, version, correlationId, req, entries, throttleTimeMs)))
      .catch((err: unknown) => respond.close(`could not answer a Produce: ${err instanceof Error ? err.message : String(err)}`));
  };
}

/** Upstream leader id for an admitted entry (and its producer id mapped), or null when it already failed. */
async function routeEntry(px: ProxyContext, e: Entry, adm: Ticket): Promise<number | null> {
  const client = px.clusters[adm.cluster];
  const meta = await client.topic(e.topic);
  if (meta.errorCode !== 0) {
    fail(px, e, meta.errorCode, 'no', null);
    return null;
  }
  const pm = meta.partitions[e.partition];
  if (!pm || pm.partition !== e.partition) {
    fail(px, e, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'no', null);
    return null;
  }
  if (pm.leaderId < 0) {
    client.refreshSoon(e.topic);
    fail(px, e, ErrorCode.LEADER_NOT_AVAILABLE, 'no', null);
    return null;
  }
  if (e.records !== null && e.records.length > 0) {
    // Header reads only. splitBatches checks the whole blob before anything is patched, so a malformed one is
    // refused as the broker would refuse it, and never half-rewritten.
    let batches: BatchView[];
    try {
      const all = splitBatches(e.records);
      if (all.some((b) => b.kind !== 'batch')) {
        fail(px, e, ErrorCode.INVALID_RECORD, 'no', 'only record batches of format v2 (magic 2) are accepted');
        return null;
      }
      batches = all as BatchView[];
    } catch (err) {
      fail(px, e, ErrorCode.CORRUPT_MESSAGE, 'no', `malformed record batch: ${(err as Error).message}`);
      return null;
    }
    for (const b of batches) {
      e.offsetSpan += b.lastOffsetDelta + 1;
      e.recordCount += b.recordCount;
    }
    const first = batches[0];
    if (first !== undefined && first.producerId >= 0n) {
      const key = SequenceGuard.key(first.producerId, first.producerEpoch, e.topic, e.partition);
      if (!px.sequences.forward(key, first.baseSequence, e.offsetSpan)) {
        // An earlier batch of this producer is missing (it failed, or was turned away here): forwarding this one
        // could put the partition out of order on a fresh upstream producer id (see sequence-guard.ts). The
        // client resends it after the earlier ones. It was not sent, so the ticket is abandoned.
        e.result = partitionResponse(e.partition, ErrorCode.NOT_LEADER_OR_FOLLOWER, 'kmp: an earlier batch is missing; resend in sequence order');
        px.router.abandon(adm);
        e.admission = null;
        return null;
      }
      e.seqKey = key;
      e.baseSequence = first.baseSequence;
      let mapped;
      try {
        const m = px.producerIds.lookup(e.topic, { producerId: first.producerId, producerEpoch: first.producerEpoch }, adm.cluster, adm.generation);
        mapped = m instanceof Promise ? await m : m;
      } catch (err) {
        fail(px, e, ErrorCode.LEADER_NOT_AVAILABLE, 'no', `could not get a producer id from ${adm.cluster}: ${String(err)}`);
        return null;
      }
      if (mapped !== null) {
        // Safe to patch in place: the frame is ours (read from the client socket) and is not used after this.
        for (const b of batches) rewriteProducer(e.records, b.offset, { producerId: mapped.producerId, producerEpoch: mapped.producerEpoch });
      }
    }
  }
  return pm.leaderId;
}

function complete(px: ProxyContext, e: Entry, outcome: CompletionOutcome): void {
  if (e.admission) px.router.complete(e.admission, outcome);
  e.admission = null;
}

function fail(px: ProxyContext, e: Entry, errorCode: number, written: 'no' | 'unknown', message: string | null): void {
  e.result = partitionResponse(e.partition, errorCode, message);
  if (written === 'no' && e.seqKey !== null) px.sequences.notWritten(e.seqKey, e.baseSequence);
  complete(px, e, { ok: false, retriable: isRetriable(errorCode), errorCode, written });
}

function buildUpstreamRequest(req: ProduceRequest, entries: Entry[]): ProduceRequest {
  const topics = new Map<string, { index: number; records: Buffer | null }[]>();
  for (const e of entries) {
    let list = topics.get(e.topic);
    if (!list) topics.set(e.topic, (list = []));
    list.push({ index: e.partition, records: e.records });
  }
  return {
    ...req,
    topicData: [...topics].map(([name, partitionData]) => ({ name, topicId: ZERO_UUID, partitionData })),
  } as ProduceRequest;
}

function encodeProduceResponse(px: ProxyContext, version: number, correlationId: number, req: ProduceRequest, entries: Entry[], throttleTimeMs: number): Buffer[] {
  let i = 0;
  const responses = req.topicData.map((t) => ({
    name: t.name,
    topicId: ZERO_UUID,
    partitionResponses: t.partitionData.map(() => {
      const e = entries[i++];
      return e.result ?? partitionResponse(e.partition, ErrorCode.UNKNOWN_SERVER_ERROR, 'kmp: no result');
    }),
  }));
  px.metrics?.producedResponse(entries);
  return encodeResponseFrame(ApiKey.Produce, version, correlationId, { responses, throttleTimeMs, nodeEndpoints: [] } as unknown as ProduceResponse);
}
