// Whole-frame convenience on top of the header and body codecs: what the proxy's connection code calls.
//
// Frames here are the bytes after the int32 size prefix (what FrameReader returns); encoders return the chunks of
// a complete frame, size prefix included, ready for `socket.cork(); for (c of chunks) socket.write(c); uncork()`.
// A frame must be consumed exactly: bytes left after the body mean the peer and the codec disagree on the layout,
// and forwarding a re-encoding that silently dropped them would hide that.

import { KafkaCodecError, KafkaCodecErrorCode, type KafkaCodecErrorContext } from './errors.ts';
import { frameOf } from './frame-reader.ts';
import {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
  type RequestHeader,
} from './header.ts';
import {
  decodeRequestBody,
  decodeResponseBody,
  encodeRequestBody,
  encodeResponseBody,
  type ApiKey,
  type RequestBodies,
  type RequestBody,
  type ResponseBodies,
  type ResponseBody,
} from './messages/index.ts';
import { Reader } from './reader.ts';
import { Writer } from './writer.ts';

/** A decoded request; `apiKey` discriminates the body type (`if (req.apiKey === ApiKey.Produce) req.body...`). */
export type DecodedRequest = {
  [K in ApiKey]: { apiKey: K; header: RequestHeader; body: RequestBodies[K] };
}[ApiKey];

export interface DecodedResponse<B = ResponseBody> {
  correlationId: number;
  body: B;
}

/**
 * Decodes a request frame. Throws KafkaCodecError('UNSUPPORTED_VERSION') for unknown API keys and versions, with
 * the header's key, version, correlation id and client id in `error.context` so that the caller can answer.
 */
export function decodeRequest(frame: Buffer): DecodedRequest {
  const { header, bodyOffset, support } = decodeRequestHeader(frame);
  const context: KafkaCodecErrorContext = {
    apiKey: header.requestApiKey,
    apiVersion: header.requestApiVersion,
    correlationId: header.correlationId,
    clientId: header.clientId,
  };
  if (support !== 'supported') {
    const what = support === 'unknown-api-key' ? 'unknown API key' : 'unsupported version of API';
    throw new KafkaCodecError(
      KafkaCodecErrorCode.UNSUPPORTED_VERSION,
      `${what} ${header.requestApiKey} v${header.requestApiVersion}`,
      context,
    );
  }
  const reader = new Reader(frame, bodyOffset);
  const body = withContext(context, () => {
    const b = decodeRequestBody(header.requestApiKey, header.requestApiVersion, reader);
    expectEnd(reader);
    return b;
  });
  // The union cannot be narrowed from a runtime number; decodeRequestBody chose the body by this same key.
  return { apiKey: header.requestApiKey, header, body } as DecodedRequest;
}

/** Encodes header and body into the chunks of one frame, size prefix first. */
export function encodeRequestFrame<K extends ApiKey>(
  header: RequestHeader & { requestApiKey: K },
  body: RequestBodies[K],
): Buffer[];
export function encodeRequestFrame(header: RequestHeader, body: RequestBody): Buffer[];
export function encodeRequestFrame(header: RequestHeader, body: RequestBody): Buffer[] {
  const w = new Writer({ initialCapacity: 512 });
  encodeRequestHeader(w, header);
  encodeRequestBody(w, header.requestApiKey, header.requestApiVersion, body);
  return frameOf(w.toChunks());
}

/**
 * A request frame whose body is already encoded: the header is encoded here and `body` (e.g. the body of a client's
 * request, forwarded unchanged) is appended by reference, never copied. The proxy's Produce fast path uses it when a
 * client request goes to one upstream broker as a whole: the upstream body is then byte for byte the client's.
 */
export function encodeRequestFrameWithBody(header: RequestHeader, body: Buffer): Buffer[] {
  const w = new Writer({ initialCapacity: 64 });
  encodeRequestHeader(w, header);
  const chunks = w.toChunks();
  chunks.push(body);
  return frameOf(chunks);
}

/** Decodes a response frame to a request that was sent with this API key and version. */
export function decodeResponse<K extends ApiKey>(
  frame: Buffer,
  apiKey: K,
  apiVersion: number,
): DecodedResponse<ResponseBodies[K]>;
export function decodeResponse(frame: Buffer, apiKey: number, apiVersion: number): DecodedResponse;
export function decodeResponse(frame: Buffer, apiKey: number, apiVersion: number): DecodedResponse {
  const context: KafkaCodecErrorContext = { apiKey, apiVersion };
  return withContext(context, () => {
    const { header, bodyOffset } = decodeResponseHeader(frame, apiKey, apiVersion);
    context.correlationId = header.correlationId;
    const reader = new Reader(frame, bodyOffset);
    const body = decodeResponseBody(apiKey, apiVersion, reader);
    expectEnd(reader);
    return { correlationId: header.correlationId, body };
  });
}

/** Encodes a response header and body into the chunks of one frame, size prefix first. */
export function encodeResponseFrame<K extends ApiKey>(
  apiKey: K,
  apiVersion: number,
  correlationId: number,
  body: ResponseBodies[K],
): Buffer[];
export function encodeResponseFrame(apiKey: number, apiVersion: number, correlationId: number, body: ResponseBody): Buffer[];
export function encodeResponseFrame(apiKey: number, apiVersion: number, correlationId: number, body: ResponseBody): Buffer[] {
  const w = new Writer({ initialCapacity: 512 });
  encodeResponseHeader(w, apiKey, apiVersion, correlationId);
  encodeResponseBody(w, apiKey, apiVersion, body);
  return frameOf(w.toChunks());
}

function expectEnd(reader: Reader): void {
  if (reader.remaining !== 0) {
    throw new KafkaCodecError(KafkaCodecErrorCode.TRAILING_BYTES, `${reader.remaining} byte(s) after the message body`);
  }
}

/** Re-throws codec errors with the request's identity attached (unless they already carry one). */
function withContext<T>(context: KafkaCodecErrorContext, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof KafkaCodecError && err.context === undefined) {
      throw new KafkaCodecError(err.code, err.message, { ...context });
    }
    throw err;
  }
}
