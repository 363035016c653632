// Request dispatch by API key. Anything the proxy does not serve closes that one connection with a log line,
// which is what a Kafka broker does with a request it cannot parse; the process never goes down for it.
import { ApiKey } from '../../protocol/messages/index.ts';
import type { Handler } from './handler.ts';
import { errorResponseFrame } from './error-response.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { ProxyContext } from './proxy-context.ts';
import type { AdvertisedApi } from './api-versions.ts';
import { apiVersionsHandler } from './handlers/api-versions.ts';
import { metadataHandler } from './handlers/metadata.ts';
import { produceHandler } from './handlers/produce.ts';
import { initProducerIdHandler, type InitProducerIdOptions } from './handlers/init-producer-id.ts';
import { findCoordinatorHandler } from './handlers/find-coordinator.ts';
import { saslHandshakeHandler } from './handlers/sasl-handshake.ts';
import { saslAuthenticateHandler } from './handlers/sasl-authenticate.ts';
import type { TransactionHandlers } from '../transactions/transaction-handlers.ts';

const API_NAMES = new Map<number, string>(Object.entries(ApiKey).map(([name, key]) => [key as number, name]));

const TRANSACTION_APIS = new Set<number>([ApiKey.AddPartitionsToTxn, ApiKey.AddOffsetsToTxn, ApiKey.EndTxn, ApiKey.TxnOffsetCommit, ApiKey.DescribeTransactions]);

export interface DispatcherOptions {
  initProducerId?: InitProducerIdOptions;
  /** Transactional producers (src/transactions/); without them the transaction APIs are refused. */
  transactions?: TransactionHandlers;
}

export function createDispatcher(px: ProxyContext, advertised: () => AdvertisedApi[], options: DispatcherOptions = {}): (apiKey: number) => Handler {
  const versionChecked = (apiKey: number, handler: Handler): Handler => (ctx, respond) => {
    const v = ctx.header.requestApiVersion;
    if (!px.apiVersions.accepts(apiKey, v)) {
      respond.close(`${API_NAMES.get(apiKey) ?? apiKey} v${v} is not supported by the proxy`);
      return;
    }
    return handler(ctx, respond);
  };
  const handlers = new Map<number, Handler>([
    [ApiKey.ApiVersions, apiVersionsHandler(advertised)],
    [ApiKey.Metadata, versionChecked(ApiKey.Metadata, metadataHandler(px))],
    [ApiKey.Produce, produceHandler(px)],
    [ApiKey.InitProducerId, versionChecked(ApiKey.InitProducerId, initProducerIdHandler(px, {
      ...options.initProducerId,
      ...(options.transactions !== undefined ? { transactional: options.transactions.initProducerId } : {}),
    }))],
    [ApiKey.FindCoordinator, versionChecked(ApiKey.FindCoordinator, options.transactions !== undefined ? options.transactions.findCoordinator(() => px.nodes) : findCoordinatorHandler())],
    ...(options.transactions !== undefined
      ? ([
          [ApiKey.AddPartitionsToTxn, versionChecked(ApiKey.AddPartitionsToTxn, options.transactions.addPartitionsToTxn)],
          [ApiKey.AddOffsetsToTxn, versionChecked(ApiKey.AddOffsetsToTxn, options.transactions.addOffsetsToTxn)],
          [ApiKey.EndTxn, versionChecked(ApiKey.EndTxn, options.transactions.endTxn)],
          [ApiKey.TxnOffsetCommit, versionChecked(ApiKey.TxnOffsetCommit, options.transactions.txnOffsetCommit)],
        ] as const)
      : []),
    // Answered on SASL listeners only (the handlers close the connection elsewhere); versions checked inside.
    [ApiKey.SaslHandshake, saslHandshakeHandler()],
    [ApiKey.SaslAuthenticate, saslAuthenticateHandler()],
  ]);
  const refuse: Handler = (ctx, respond) => {
    const key = ctx.header.requestApiKey;
    const name = API_NAMES.get(key) ?? `unknown API ${key}`;
    const transactional = TRANSACTION_APIS.has(key);
    const why = key === ApiKey.Fetch
      ? 'Fetch is advertised only for librdkafka feature detection; consumers connect to the clusters directly'
      : transactional
        ? `${name}: kmp does not support transactional producers yet`
        : `${name} is not served by the proxy (producers only)`;
    // Where the response format has a top-level error code, answer with it (transaction APIs: the same fatal
    // error InitProducerId gives, so the client stops); otherwise close, as a broker does with what it cannot parse.
    const frame = errorResponseFrame(key, ctx.header.requestApiVersion, ctx.header.correlationId,
      transactional ? ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED : ErrorCode.UNSUPPORTED_VERSION, why);
    if (frame !== null && key !== ApiKey.Fetch) {
      ctx.connection.log.warn({ api: name, version: ctx.header.requestApiVersion, clientId: ctx.header.clientId }, `answered with an error: ${why}`);
      respond.send(frame);
      return;
    }
    respond.close(why);
  };
  return (apiKey) => handlers.get(apiKey) ?? refuse;
}
