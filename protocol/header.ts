// Request and response headers.
//
// The header version is not on the wire: it follows from the API key and version (Kafka's
// ApiMessageType.requestHeaderVersion/responseHeaderVersion, reproduced in the generated index from each API's
// flexibleVersions). So decoding reads the key and version first, then the rest with the matching layout.
// RequestHeader.ClientId keeps its int16 length even in header v2, so that any broker can read the client id of
// any ApiVersions request; that rule comes from the definition's `"flexibleVersions": "none"` on the field.

import { KafkaCodecError, KafkaCodecErrorCode } from './errors.ts';
import {
  decodeRequestHeader as decodeRequestHeaderFields,
  encodeRequestHeader as encodeRequestHeaderFields,
  type RequestHeader as RequestHeaderFields,
} from './messages/request-header.ts';
import {
  decodeResponseHeader as decodeResponseHeaderFields,
  encodeResponseHeader as encodeResponseHeaderFields,
} from './messages/response-header.ts';
import { isApiKey, isSupportedVersion, requestHeaderVersion, responseHeaderVersion } from './messages/index.ts';
import { Reader } from './reader.ts';
import type { TaggedField } from './tagged-field.ts';
import type { Writer } from './writer.ts';

export { requestHeaderVersion, responseHeaderVersion };

export interface RequestHeader {
  requestApiKey: number;
  requestApiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** Header v2 tagged fields (none are defined today; kept so that forwarding preserves them). */
  taggedFields?: TaggedField[];
}

/**
 * What the codec can do with the body:
 * - 'supported': decodeRequestBody works for this key and version;
 * - 'unknown-api-key': the key is not one of the generated APIs. The header was read with the v1 layout (the
 *   prefix every header version shares), so `bodyOffset` is only a guess: if the client used header v2, a tagged
 *   section comes first. Enough to answer with an error, not to parse the body;
 * - 'unsupported-version': a known key at a version outside its valid range. The header version still follows
 *   from flexibleVersions (like Kafka), so the header is decoded exactly; an ApiVersions request in this state is
 *   the KIP-511 case that must be answered with a v0 error response.
 */
export type RequestSupport = 'supported' | 'unknown-api-key' | 'unsupported-version';

export interface DecodedRequestHeader {
  header: RequestHeader;
  /** Offset of the request body within the frame. */
  bodyOffset: number;
  headerVersion: 1 | 2;
  support: RequestSupport;
}

/**
 * Decodes the header at the start of a request frame (the bytes after the size prefix). Unknown API keys and
 * versions do not throw (see RequestSupport); only bytes that cannot form a header do.
 */
export function decodeRequestHeader(frame: Buffer): DecodedRequestHeader {
  if (frame.length < 8) {
    throw new KafkaCodecError(KafkaCodecErrorCode.TRUNCATED, `request frame of ${frame.length} bytes has no header`);
  }
  const apiKey = frame.readInt16BE(0);
  const apiVersion = frame.readInt16BE(2);
  const support: RequestSupport = !isApiKey(apiKey)
    ? 'unknown-api-key'
    : isSupportedVersion(apiKey, apiVersion)
      ? 'supported'
      : 'unsupported-version';
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  const reader = new Reader(frame);
  let fields: RequestHeaderFields;
  try {
    fields = decodeRequestHeaderFields(reader, headerVersion);
  } catch (err) {
    // The key, version and correlation id are known by now: keep them so that the caller can log (or answer).
    if (err instanceof KafkaCodecError) {
      throw new KafkaCodecError(err.code, `request header: ${err.message}`, {
        apiKey,
        apiVersion,
        correlationId: frame.readInt32BE(4),
      });
    }
    throw err;
  }
  const header: RequestHeader = {
    requestApiKey: fields.requestApiKey,
    requestApiVersion: fields.requestApiVersion,
    correlationId: fields.correlationId,
    clientId: fields.clientId,
  };
  if (fields._unknownTaggedFields !== undefined) header.taggedFields = fields._unknownTaggedFields;
  return { header, bodyOffset: reader.offset, headerVersion, support };
}

/** Writes a request header in the version that the header's API key and version call for. */
export function encodeRequestHeader(w: Writer, header: RequestHeader): void {
  encodeRequestHeaderFields(w, requestHeaderVersion(header.requestApiKey, header.requestApiVersion), {
    requestApiKey: header.requestApiKey,
    requestApiVersion: header.requestApiVersion,
    correlationId: header.correlationId,
    clientId: header.clientId,
    _unknownTaggedFields: header.taggedFields,
  });
}

export interface ResponseHeader {
  correlationId: number;
  /** Header v1 tagged fields (none are defined today). */
  taggedFields?: TaggedField[];
}

export interface DecodedResponseHeader {
  header: ResponseHeader;
  bodyOffset: number;
  headerVersion: 0 | 1;
}

/** Decodes the header of a response to a request with this API key and version. */
export function decodeResponseHeader(frame: Buffer, apiKey: number, apiVersion: number): DecodedResponseHeader {
  const headerVersion = responseHeaderVersion(apiKey, apiVersion);
  const reader = new Reader(frame);
  const fields = decodeResponseHeaderFields(reader, headerVersion);
  const header: ResponseHeader = { correlationId: fields.correlationId };
  if (fields._unknownTaggedFields !== undefined) header.taggedFields = fields._unknownTaggedFields;
  return { header, bodyOffset: reader.offset, headerVersion };
}

export function encodeResponseHeader(
  w: Writer,
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  taggedFields?: TaggedField[],
): void {
  encodeResponseHeaderFields(w, responseHeaderVersion(apiKey, apiVersion), {
    correlationId,
    _unknownTaggedFields: taggedFields,
  });
}
