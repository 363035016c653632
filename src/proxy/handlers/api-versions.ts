// ApiVersions is answered by the proxy itself (docs/design.md §1). A version the proxy does not know is answered the
// way Kafka does (KIP-511): a v0 response with UNSUPPORTED_VERSION that lists the ApiVersions range, so the
// client retries lower.
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import type { ApiVersionsRequest } from '../../../protocol/messages/api-versions-request.ts';
import { defaultApiVersion, defaultApiVersionsResponse, type ApiVersion, type ApiVersionsResponse } from '../../../protocol/messages/api-versions-response.ts';
import type { Handler } from '../handler.ts';
import type { AdvertisedApi } from '../api-versions.ts';
import { ErrorCode } from '../../../protocol/kafka-errors.ts';

function toApiVersion(a: AdvertisedApi): ApiVersion {
  return { ...defaultApiVersion(), apiKey: a.apiKey, minVersion: a.minVersion, maxVersion: a.maxVersion };
}

export function apiVersionsHandler(advertised: () => AdvertisedApi[]): Handler {
  return (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    // SASL listeners add SaslHandshake/SaslAuthenticate; plaintext listeners do not offer them.
    const extra = ctx.connection.auth?.advertisedApis ?? [];
    const apis = extra.length === 0 ? advertised() : [...advertised(), ...extra].sort((a, b) => a.apiKey - b.apiKey);
    const own = apis.find((a) => a.apiKey === ApiKey.ApiVersions)!;
    if (version > own.maxVersion || version < 0) {
      const body: ApiVersionsResponse = { ...defaultApiVersionsResponse(), errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: [toApiVersion(own)] };
      respond.send(encodeResponseFrame(ApiKey.ApiVersions, 0, ctx.header.correlationId, body));
      return;
    }
    const req = decodeRequestBody(ApiKey.ApiVersions, version, new Reader(ctx.frame, ctx.bodyOffset)) as ApiVersionsRequest;
    if (version >= 3) ctx.connection.clientSoftware = { name: req.clientSoftwareName, version: req.clientSoftwareVersion };
    // No finalized features: without `transaction.version` Java clients stay on transactions v1 (docs/protocol-notes.md §d).
    const body: ApiVersionsResponse = { ...defaultApiVersionsResponse(), errorCode: ErrorCode.NONE, apiKeys: apis.map(toApiVersion) };
    respond.send(encodeResponseFrame(ApiKey.ApiVersions, version, ctx.header.correlationId, body));
  };
}
