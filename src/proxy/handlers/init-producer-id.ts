// InitProducerId for idempotent producers: forwarded to the default cluster, whose producer id becomes the
// client-facing one (identity there, so the common path rewrites nothing; DESIGN §5). Transactional producers
// are refused with a clear error until transactions are routed.
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import type { InitProducerIdRequest } from '../../../protocol/messages/init-producer-id-request.ts';
import type { InitProducerIdResponse } from '../../../protocol/messages/init-producer-id-response.ts';
import type { Handler } from '../handler.ts';
import type { ProxyContext } from '../proxy-context.ts';
import { ErrorCode } from '../error-codes.ts';

export function initProducerIdHandler(px: ProxyContext): Handler {
  return async (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.InitProducerId, version, new Reader(ctx.frame, ctx.bodyOffset)) as InitProducerIdRequest;
    const answer = (body: Partial<InitProducerIdResponse>) =>
      respond.send(encodeResponseFrame(ApiKey.InitProducerId, version, ctx.header.correlationId,
        { throttleTimeMs: 0, errorCode: 0, producerId: -1n, producerEpoch: -1, ...body } as InitProducerIdResponse));
    if (req.transactionalId !== null) {
      ctx.connection.log.warn({ transactionalId: req.transactionalId }, 'refusing a transactional producer: transactions are not supported yet');
      answer({ errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED });
      return;
    }
    const client = px.clusters[px.defaultCluster];
    try {
      const conn = await client.anyConnection();
      const res = (await conn.send(ApiKey.InitProducerId, version, req)) as InitProducerIdResponse;
      answer(res);
    } catch (err) {
      ctx.connection.log.warn({ cluster: px.defaultCluster, err: String(err) }, 'InitProducerId upstream failed');
      answer({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE });
    }
  };
}
