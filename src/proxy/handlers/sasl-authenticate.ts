// SaslAuthenticate (v0-2): one SASL token round trip of the login chosen by SaslHandshake v1. A failed login is
// answered with SASL_AUTHENTICATION_FAILED (58) and its message, then the connection closes (as a broker does).
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import type { SaslAuthenticateRequest } from '../../../protocol/messages/sasl-authenticate-request.ts';
import type { SaslAuthenticateResponse } from '../../../protocol/messages/sasl-authenticate-response.ts';
import type { Handler } from '../handler.ts';
import { SaslServerSession } from '../../security/sasl-server-session.ts';

export function saslAuthenticateHandler(): Handler {
  return async (ctx, respond) => {
    const session = ctx.connection.auth;
    const version = ctx.header.requestApiVersion;
    if (!(session instanceof SaslServerSession)) {
      respond.close('SaslAuthenticate on a listener without SASL');
      return;
    }
    if (version < 0 || version > 2) {
      respond.close(`SaslAuthenticate v${version} is not supported`);
      return;
    }
    const req = decodeRequestBody(ApiKey.SaslAuthenticate, version, new Reader(ctx.frame, ctx.bodyOffset)) as SaslAuthenticateRequest;
    const outcome = await session.authenticate(req.authBytes, version);
    const body: SaslAuthenticateResponse = {
      errorCode: outcome.errorCode,
      errorMessage: outcome.errorMessage,
      authBytes: outcome.authBytes,
      sessionLifetimeMs: outcome.sessionLifetimeMs,
    };
    respond.send(encodeResponseFrame(ApiKey.SaslAuthenticate, version, ctx.header.correlationId, body));
    if (outcome.close !== undefined) ctx.connection.closeAfterResponses(outcome.close);
  };
}
