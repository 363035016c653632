// The single error type of the codec. The proxy distinguishes "the peer sent bytes we cannot (or must not) parse"
// from programming errors by `instanceof KafkaCodecError`: the former closes one connection (or is answered with a
// Kafka error code), the latter is a bug. That is why every decode failure, whatever the input, must surface as
// this class and never as a RangeError from Buffer or a TypeError.

export const KafkaCodecErrorCode = {
  /** The input ended before a field was complete. */
  TRUNCATED: 'TRUNCATED',
  /** A length or count is negative where that is not allowed, or larger than the bytes that are left. */
  INVALID_LENGTH: 'INVALID_LENGTH',
  /** A varint runs longer than its type allows. */
  INVALID_VARINT: 'INVALID_VARINT',
  /** A null arrived for a field that is not nullable in this version. */
  UNEXPECTED_NULL: 'UNEXPECTED_NULL',
  /** A tagged field's value did not use exactly the size its header announced. */
  INVALID_TAGGED_FIELD: 'INVALID_TAGGED_FIELD',
  /** Bytes remain after the message body. */
  TRAILING_BYTES: 'TRAILING_BYTES',
  /** The API key is unknown, or the version is outside the API's valid range, or an encoder was asked to
   * write a non-default value into a version that lacks the (non-ignorable) field. */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  /** A frame's size prefix is above the configured maximum. */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** A value given to an encoder does not fit its wire type (out of range, too long, null where not allowed). */
  INVALID_VALUE: 'INVALID_VALUE',
} as const;

export type KafkaCodecErrorCode = (typeof KafkaCodecErrorCode)[keyof typeof KafkaCodecErrorCode];

/** Optional facts about where the error happened, for logs and for answering the client with an error. */
export interface KafkaCodecErrorContext {
  apiKey?: number;
  apiVersion?: number;
  correlationId?: number;
  clientId?: string | null;
}

export class KafkaCodecError extends Error {
  readonly code: KafkaCodecErrorCode;
  readonly context: KafkaCodecErrorContext | undefined;

  constructor(code: KafkaCodecErrorCode, message: string, context?: KafkaCodecErrorContext) {
    super(message);
    this.name = 'KafkaCodecError';
    this.code = code;
    this.context = context;
  }
}

/** Thrown by generated encoders, mirroring Kafka's "Attempted to write a non-default X at version N". */
export function nonDefaultFieldError(message: string, field: string, version: number): KafkaCodecError {
  return new KafkaCodecError(
    KafkaCodecErrorCode.UNSUPPORTED_VERSION,
    `${message}: attempted to write a non-default ${field} at version ${version}`,
  );
}

/** Thrown by generated encoders when a field that is not nullable in the target version holds null. */
export function requireNonNull<T>(value: T | null, field: string, version: number): T {
  if (value === null) {
    throw new KafkaCodecError(KafkaCodecErrorCode.INVALID_VALUE, `${field} is not nullable at version ${version}`);
  }
  return value;
}
