// FindCoordinator is advertised only because librdkafka's LZ4 feature check needs it (docs/protocol-notes.md §f). kmp serves
// producers: group coordinators stay on the real clusters, and transactions are not routed yet, so every key
// is answered with an error that says so.
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import type { FindCoordinatorRequest } from '../../../protocol/messages/find-coordinator-request.ts';
import { defaultCoordinator, defaultFindCoordinatorResponse } from '../../../protocol/messages/find-coordinator-response.ts';
import type { Handler } from '../handler.ts';
import { ErrorCode } from '../../../protocol/kafka-errors.ts';

const TRANSACTION = 1;

/**
 * The error answer for these keys. v0-3 carry one top-level coordinator, v4+ one per key and nothing at the top
 * level: each version's fields are set on the generated default, the others left at the defaults the encoder
 * requires.
 */
export function findCoordinatorError(version: number, correlationId: number, keyType: number, keys: readonly string[]): Buffer[] {
  const txn = keyType === TRANSACTION;
  const errorCode = txn ? ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED : ErrorCode.COORDINATOR_NOT_AVAILABLE;
  const errorMessage = txn
    ? 'kmp does not support transactional producers yet'
    : 'kmp serves producers only: consumers and groups connect to the clusters directly';
  const body = defaultFindCoordinatorResponse();
  if (version >= 4) {
    body.coordinators = keys.map((key) => ({ ...defaultCoordinator(), key, nodeId: -1, host: '', port: -1, errorCode, errorMessage }));
  } else {
    Object.assign(body, { errorCode, errorMessage, nodeId: -1, host: '', port: -1 });
  }
  return encodeResponseFrame(ApiKey.FindCoordinator, version, correlationId, body);
}

export function findCoordinatorHandler(): Handler {
  return (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.FindCoordinator, version, new Reader(ctx.frame, ctx.bodyOffset)) as FindCoordinatorRequest;
    respond.send(findCoordinatorError(version, ctx.header.correlationId, req.keyType, version >= 4 ? req.coordinatorKeys : [req.key]));
  };
}
