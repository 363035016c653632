// An error answer for a request the proxy does not serve, built from the response's schema: every field at its
// default and the top-level error code set. Kafka's own "unsupported" answers look like this, and a client reads
// a clear error instead of a closed connection. Only possible where the response has a top-level error code in
// that version; for the rest the caller closes the connection (what a broker does with a request it cannot parse).
import { MESSAGE_SCHEMAS } from '../../protocol/messages/schemas.ts';
import { inVersions, type MessageSchema } from '../../protocol/message-schema.ts';
import { defaultMessage } from '../../protocol/sample-messages.ts';
import { encodeResponseFrame } from '../../protocol/codec.ts';
import type { ResponseBody } from '../../protocol/messages/index.ts';

const responses = new Map<number, MessageSchema>(
  MESSAGE_SCHEMAS.filter((s) => s.type === 'response' && s.apiKey !== null).map((s) => [s.apiKey as number, s]),
);

/** The encoded error response frame, or null when this API/version has no top-level error code to carry it. */
export function errorResponseFrame(apiKey: number, version: number, correlationId: number, errorCode: number, errorMessage?: string): Buffer[] | null {
  const schema = responses.get(apiKey);
  if (!schema || !inVersions(schema.validVersions, version)) return null;
  const errorField = schema.fields.find((f) => f.name === 'errorCode' && f.type === 'int16' && inVersions(f.versions, version));
  if (!errorField) return null;
  const body = defaultMessage(schema);
  body.errorCode = errorCode;
  const messageField = schema.fields.find((f) => f.name === 'errorMessage' && inVersions(f.versions, version));
  if (messageField && errorMessage !== undefined) body.errorMessage = errorMessage;
  // The body is built from the runtime schema of an API key only known at run time, so it cannot be typed as one
  // particular response; defaultMessage fills every field of that schema, which is what the encoder reads.
  return encodeResponseFrame(apiKey, version, correlationId, body as unknown as ResponseBody);
}
