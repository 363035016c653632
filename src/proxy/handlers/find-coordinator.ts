// FindCoordinator is advertised only because librdkafka's LZ4 feature check needs it (NOTES §f). kmp serves
// producers: group coordinators stay on the real clusters, and transactions are not routed yet, so every key
// is answered with an error that says so.
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import type { FindCoordinatorRequest } from '../../../protocol/messages/find-coordinator-request.ts';
import type { FindCoordinatorResponse } from '../../../protocol/messages/find-coordinator-response.ts';
import type { Handler } from '../handler.ts';
import { ErrorCode } from '../error-codes.ts';

const TRANSACTION = 1;

export function findCoordinatorHandler(): Handler {
  return (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.FindCoordinator, version, new Reader(ctx.frame, ctx.bodyOffset)) as FindCoordinatorRequest;
    const txn = req.keyType === TRANSACTION;
    const errorCode = txn ? ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED : ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const errorMessage = txn
      ? 'kmp does not support transactional producers yet'
      : 'kmp serves producers only: consumers and groups connect to the clusters directly';
    const keys = version >= 4 ? req.coordinatorKeys : [req.key];
    const body = {
      throttleTimeMs: 0,
      errorCode, errorMessage, nodeId: -1, host: '', port: -1,
      coordinators: version >= 4 ? keys.map((key) => ({ key, nodeId: -1, host: '', port: -1, errorCode, errorMessage })) : [],
    } as unknown as FindCoordinatorResponse;
    respond.send(encodeResponseFrame(ApiKey.FindCoordinator, version, ctx.header.correlationId, body));
  };
}
