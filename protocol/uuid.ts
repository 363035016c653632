// Kafka UUIDs (topic ids, directory ids) travel as 16 raw bytes. The codec represents them as lowercase canonical
// strings ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx") rather than Buffers: strings compare with ===, work as Map keys
// for id remapping, and print readably in logs. Kafka's own tools print the same 16 bytes as URL-safe base64
// (`Uuid.toString()`); `uuidToKafkaString`/`uuidFromKafkaString` convert between the two forms.

import { KafkaCodecError, KafkaCodecErrorCode } from './errors.ts';

/** All zeros: Kafka's `Uuid.ZERO_UUID`, meaning "no id". */
export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Formats 16 bytes at `offset` (the caller has checked the bounds). */
export function uuidFromBytes(buf: Buffer, offset: number): string {
  const hex = buf.toString('hex', offset, offset + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The 32 hex digits of a canonical UUID string; throws KafkaCodecError('INVALID_VALUE') for anything else. */
export function uuidHex(uuid: string): string {
  if (typeof uuid !== 'string' || !CANONICAL.test(uuid)) {
    throw new KafkaCodecError(KafkaCodecErrorCode.INVALID_VALUE, `not a lowercase canonical UUID: ${String(uuid)}`);
  }
  return uuid.slice(0, 8) + uuid.slice(9, 13) + uuid.slice(14, 18) + uuid.slice(19, 23) + uuid.slice(24);
}

export function isZeroUuid(uuid: string): boolean {
  return uuid === ZERO_UUID;
}

/** Kafka's textual form (`Uuid.toString()`: URL-safe base64 without padding, 22 characters). */
export function uuidToKafkaString(uuid: string): string {
  return Buffer.from(uuidHex(uuid), 'hex').toString('base64url');
}

export function uuidFromKafkaString(text: string): string {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== 16 || bytes.toString('base64url') !== text) {
    throw new KafkaCodecError(KafkaCodecErrorCode.INVALID_VALUE, `not a Kafka base64 UUID: ${text}`);
  }
  return uuidFromBytes(bytes, 0);
}
