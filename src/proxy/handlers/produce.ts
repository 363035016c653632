// Produce: decode → plan → send → merge → respond. Each partition of the client's request is routed by the
// ProduceSession (barrier, leader, sequence guard, producer id), the routed ones are grouped by upstream leader and
// sent at the client's version, and the answers are merged back in the client's order. Record data is never
// decoded or copied: each partition's records are a slice of the client's frame, written upstream as is; only the
// 61-byte batch header is patched when the producer id must be mapped for the destination cluster.
//
// Nothing is awaited unless something is cold (a move holds the topic, metadata or a producer id must be fetched,
// an upstream connection opened). While a request waits, later requests of its connection wait behind it: that
// is what keeps a partition's batches in the client's order upstream.
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey } from '../../../protocol/messages/index.ts';
import { decodeProduceRequest, type ProduceRequest } from '../../../protocol/messages/produce-request.ts';
import { ErrorCode } from '../../../protocol/kafka-errors.ts';
import type { Handler, RequestContext, Responder } from '../handler.ts';
import type { ProxyContext } from '../proxy-context.ts';
import type { ProducerIdentity } from '../../inventory.ts';
import { ProduceSession } from '../produce/produce-session.ts';
import { planUpstream, sendGroup, type ProduceOrigin } from '../produce/upstream-produce.ts';
import { encodeClientAnswer } from '../produce/client-answer.ts';

export function produceHandler(px: ProxyContext): Handler {
  return (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    if (!px.apiVersions.accepts(ApiKey.Produce, version)) {
      // Kafka 4 brokers close the connection for Produce v0-2 (KIP-896); so do we.
      respond.close(`Produce v${version} is not supported (v3+ with record format 2 only)`);
      return;
    }
    // decode
    const req = decodeProduceRequest(new Reader(ctx.frame, ctx.bodyOffset), version);
    if (req.acks === 0) respond.none();
    const session = new ProduceSession(px, px.inventory ? identityOf(ctx) : null);
    for (const t of req.topicData) for (const p of t.partitionData) session.add(t.name, p.index, p.records);

    if (req.transactionalId !== null && !px.transactions) {
      // Without src/transactions/ a transaction could be split across clusters: refuse clearly instead.
      for (const w of session.writes) session.settleNotSent(w, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'kmp does not support transactional producers yet');
      return answer(px, ctx, respond, req, session, 0);
    }

    // plan: route every partition; synchronous unless something is cold
    let waiting: Promise<boolean>[] | null = null;
    for (const w of session.writes) {
      const routed = session.route(w);
      if (routed instanceof Promise) (waiting ??= []).push(routed);
    }
    const origin: ProduceOrigin = { version, request: req, body: ctx.frame.subarray(ctx.bodyOffset), lane: ctx.connection.id };
    if (waiting === null) return send(px, ctx, respond, origin, session);
    return Promise.all(waiting).then(() => {
      session.refuseLate();
      return send(px, ctx, respond, origin, session);
    });
  };
}

/** send: one upstream Produce per (cluster, leader); then merge and respond once every partition is settled. */
function send(px: ProxyContext, ctx: RequestContext, respond: Responder, origin: ProduceOrigin, session: ProduceSession): void | Promise<void> {
  const groups = planUpstream(session);
  if (groups.length === 0) return answer(px, ctx, respond, origin.request, session, 0);
  const whole = groups.length === 1 && groups[0].writes.length === session.writes.length;
  let throttleTimeMs = 0;
  let pending = groups.length;
  const groupDone = (t: number): void => {
    throttleTimeMs = Math.max(throttleTimeMs, t);
    if (--pending === 0) answer(px, ctx, respond, origin.request, session, throttleTimeMs);
  };
  let connecting: Promise<void>[] | null = null;
  for (const g of groups) {
    const issuing = sendGroup(px, session, origin, g, whole, groupDone);
    if (issuing !== undefined) (connecting ??= []).push(issuing);
  }
  // The next request of this connection is looked at once this one's upstream writes are issued: only a connection
  // still being opened delays that.
  if (connecting !== null) return Promise.all(connecting).then(() => undefined);
}

/** merge + respond (after any answer a concern holds back, e.g. write-back's ackAfterWriteBack) */
function answer(px: ProxyContext, ctx: RequestContext, respond: Responder, req: ProduceRequest, session: ProduceSession, throttleTimeMs: number): void {
  let held: Promise<void>[] | null = null;
  for (const w of session.writes) if (w.answerAfter !== null) (held ??= []).push(w.answerAfter);
  if (held !== null) {
    void Promise.all(held).then(() => respondNow(px, ctx, respond, req, session, throttleTimeMs));
    return;
  }
  respondNow(px, ctx, respond, req, session, throttleTimeMs);
}

function respondNow(px: ProxyContext, ctx: RequestContext, respond: Responder, req: ProduceRequest, session: ProduceSession, throttleTimeMs: number): void {
  px.metrics?.producedResponse(session.writes);
  if (req.acks === 0) return;
  respond.send(encodeClientAnswer(ctx.header.requestApiVersion, ctx.header.correlationId, req, session.writes, throttleTimeMs));
  if (frameIsFree(session)) ctx.frameDone?.();
}

/**
 * Whether nothing refers to the client's frame any more, once the answer (encoded from the settled results, not
 * from the frame) is written: every upstream write was answered or its connection destroyed (acks=0 is not asked:
 * its write may still be queued in the socket), and no concern kept a view of the records.
 */
function frameIsFree(session: ProduceSession): boolean {
  for (const w of session.writes) if (w.recordsKept) return false;
  return true;
}

function identityOf(ctx: RequestContext): ProducerIdentity {
  const conn = ctx.connection;
  return {
    clientId: ctx.header.clientId,
    softwareName: conn.clientSoftware?.name ?? null,
    softwareVersion: conn.clientSoftware?.version ?? null,
    remoteAddress: conn.remoteAddress,
    principal: conn.principal,
  };
}
