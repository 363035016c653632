// SaslHandshake (v0-1): the client names its SASL mechanism; answered by the connection's SASL session
// (src/security/sasl-server-session.ts). Only SASL listeners advertise it; elsewhere it closes the connection.
import { Reader } from '../../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import type { SaslHandshakeRequest } from '../../../protocol/messages/sasl-handshake-request.ts';
import type { Handler } from '../handler.ts';
import { SaslServerSession } from '../../security/sasl-server-session.ts';

export function saslHandshakeHandler(): Handler {
  return (ctx, respond) => {
    const session = ctx.connection.auth;
    const version = ctx.header.requestApiVersion;
    if (!(session instanceof SaslServerSession)) {
      respond.close('SaslHandshake on a listener without SASL');
      return;
    }
    if (version < 0 || version > 1) {
      respond.close(`SaslHandshake v${version} is not supported`);
      return;
    }
    const req = decodeRequestBody(ApiKey.SaslHandshake, version, new Reader(ctx.frame, ctx.bodyOffset)) as SaslHandshakeRequest;
    const outcome = session.handshake(req.mechanism, version);
    respond.send(encodeResponseFrame(ApiKey.SaslHandshake, version, ctx.header.correlationId, { errorCode: outcome.errorCode, mechanisms: outcome.mechanisms }));
    if (outcome.close !== undefined) ctx.connection.closeAfterResponses(outcome.close);
  };
}
