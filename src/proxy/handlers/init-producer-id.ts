// InitProducerId for idempotent producers: answered by the first cluster that can issue a producer id, the
// default cluster first. While the default cluster is down a new producer still starts, with a pid from the
// other cluster (marked as such, see producer-id-map.ts), so topics routed to the live cluster keep flowing.
// A producer that bumps its epoch (KIP-360: producerId set) goes to the cluster that issued its pid; if that one
// is unreachable it gets a fresh pid elsewhere, which a client accepts as any new pid.
// A transactional id is served by src/transactions/ (its home cluster's coordinator); without it, refused.
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import type { InitProducerIdRequest } from '../../../protocol/messages/init-producer-id-request.ts';
import { defaultInitProducerIdResponse, type InitProducerIdResponse } from '../../../protocol/messages/init-producer-id-response.ts';
import type { Cluster } from '../../../routing/cluster.ts';
import type { Handler, RequestContext, Responder } from '../handler.ts';
import type { ProxyContext } from '../proxy-context.ts';
import { ErrorCode } from '../../../protocol/kafka-errors.ts';

type AnswerFields = Partial<Pick<InitProducerIdResponse, 'throttleTimeMs' | 'errorCode' | 'producerId' | 'producerEpoch'>>;

/**
 * An InitProducerId answer built on the generated default, so that fields of later versions than the client's
 * (ongoingTxnProducerId, v6+) stay at the defaults the encoder requires.
 */
export function initProducerIdAnswer(version: number, correlationId: number, fields: AnswerFields): Buffer[] {
  return encodeResponseFrame(ApiKey.InitProducerId, version, correlationId, { ...defaultInitProducerIdResponse(), ...fields });
}

/** An error answer: no producer id, no epoch (what a broker sends with an error). */
export function initProducerIdError(version: number, correlationId: number, errorCode: number): Buffer[] {
  return initProducerIdAnswer(version, correlationId, { errorCode, producerId: -1n, producerEpoch: -1 });
}

export interface InitProducerIdOptions {
  /** Clusters to ask, best first (e.g. the healthy ones before the others); default: the default cluster first. */
  clusterOrder?: () => readonly Cluster[];
  /** Serves InitProducerId with a transactional id (src/transactions/transaction-handlers.ts). */
  transactional?: (ctx: RequestContext, respond: Responder, transactionalId: string, timeoutMs: number, client: { producerId: bigint; producerEpoch: number } | null) => void;
}

export function initProducerIdHandler(px: ProxyContext, options: InitProducerIdOptions = {}): Handler {
  const order = options.clusterOrder ?? (() => [px.defaultCluster, px.defaultCluster === 'source' ? 'target' : 'source'] as const);
  return async (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const correlationId = ctx.header.correlationId;
    const req = decodeRequestBody(ApiKey.InitProducerId, version, new Reader(ctx.frame, ctx.bodyOffset)) as InitProducerIdRequest;
    if (req.transactionalId !== null && options.transactional !== undefined) {
      options.transactional(ctx, respond, req.transactionalId, req.transactionTimeoutMs, req.producerId >= 0n ? { producerId: req.producerId, producerEpoch: req.producerEpoch } : null);
      return;
    }
    if (req.transactionalId !== null) {
      ctx.connection.log.warn({ transactionalId: req.transactionalId }, 'refusing a transactional producer: transactions are not supported yet');
      respond.send(initProducerIdError(version, correlationId, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED));
      return;
    }
    const failures: string[] = [];
    const ask = async (cluster: Cluster, request: InitProducerIdRequest): Promise<InitProducerIdResponse | null> => {
      try {
        const conn = await px.clusters[cluster].anyConnection();
        return (await conn.send(ApiKey.InitProducerId, version, request)) as InitProducerIdResponse;
      } catch (err) {
        failures.push(`${cluster}: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      }
    };
    const forward = (cluster: Cluster, res: InitProducerIdResponse): void => {
      const producerId = res.errorCode === ErrorCode.NONE ? px.producerIds.clientPid(cluster, res.producerId) : res.producerId;
      if (cluster !== px.defaultCluster && res.errorCode === ErrorCode.NONE) {
        ctx.connection.log.info({ cluster, producerId: String(producerId) }, `producer id issued by ${cluster}: ${px.defaultCluster} (the default cluster) did not answer`);
      }
      respond.send(initProducerIdAnswer(version, correlationId, { throttleTimeMs: res.throttleTimeMs, errorCode: res.errorCode, producerId, producerEpoch: res.producerEpoch }));
    };

    const fresh: InitProducerIdRequest = { ...req, producerId: -1n, producerEpoch: -1 };
    let tried: Cluster | null = null;
    if (req.producerId >= 0n) {
      // An epoch bump belongs to the cluster that issued the pid, under the pid it knows.
      const issuer = px.producerIds.issuerOf(req.producerId);
      tried = issuer.cluster;
      const res = await ask(issuer.cluster, { ...req, producerId: issuer.producerId });
      if (res !== null) return forward(issuer.cluster, res);
    }
    for (const cluster of order()) {
      if (cluster === tried) continue;
      const res = await ask(cluster, fresh);
      if (res !== null) return forward(cluster, res);
    }
    ctx.connection.log.warn({ failures }, 'InitProducerId: no cluster could issue a producer id');
    // Retriable for the client: it asks again, and gets a pid as soon as one cluster is back.
    respond.send(initProducerIdError(version, correlationId, ErrorCode.COORDINATOR_NOT_AVAILABLE));
  };
}
