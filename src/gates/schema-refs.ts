// Schema references in records: what a Schema Registry serializer leaves behind, read from the (uncompressed)
// records section of a magic-2 batch. Two places carry them (NEXT.md §4):
// - the Confluent wire format in the key or value itself: magic byte 0, then the 4-byte big-endian schema id;
// - the headers `__key_schema_id` / `__value_schema_id` of newer serializers: magic 1 + a 16-byte schema GUID
//   (or magic 0 + a 4-byte id).
// Only a bounded number of records is read per call, so a sample costs the same whatever the batch size.

export type SchemaPart = 'key' | 'value';

/** One schema reference found in a record. `id` is set for numeric ids, `guid` for header GUIDs. */
export interface SchemaRef {
  readonly part: SchemaPart;
  readonly via: 'payload' | 'header';
  readonly id: number | null;
  readonly guid: string | null;
}

export interface ScanResult {
  readonly refs: SchemaRef[];
  /** Records read whose value carried no schema reference (neither in the value nor in a header). */
  readonly plainValues: number;
  readonly recordsRead: number;
}

export const KEY_SCHEMA_ID_HEADER = '__key_schema_id';
export const VALUE_SCHEMA_ID_HEADER = '__value_schema_id';

/** A cursor over Kafka's zigzag varints; every read returns null past the end instead of throwing. */
class VarintCursor {
  offset = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  varint(): number | null {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.offset >= this.buf.length) return null;
      const byte = this.buf[this.offset++];
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return (result >>> 1) ^ -(result & 1);
    }
    return null;
  }
  skipVarlong(): boolean {
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.buf.length) return false;
      if ((this.buf[this.offset++] & 0x80) === 0) return true;
    }
    return false;
  }
  /** A length-prefixed byte string (null for length -1); undefined when it does not fit. */
  bytes(): Buffer | null | undefined {
    const len = this.varint();
    if (len === null || len < -1) return undefined;
    if (len === -1) return null;
    if (this.offset + len > this.buf.length) return undefined;
    const out = this.buf.subarray(this.offset, this.offset + len);
    this.offset += len;
    return out;
  }
}

/** The schema id of a Confluent-wire-format payload, or null when the bytes are not in that format. */
export function wireFormatId(bytes: Buffer | null): number | null {
  if (bytes === null || bytes.length < 5 || bytes[0] !== 0) return null;
  return bytes.readInt32BE(1);
}

function headerRef(part: SchemaPart, value: Buffer | null): SchemaRef | null {
  if (value === null) return null;
  if (value.length === 5 && value[0] === 0) return { part, via: 'header', id: value.readInt32BE(1), guid: null };
  if (value.length === 17 && value[0] === 1) {
    const h = value.toString('hex', 1);
    const guid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    return { part, via: 'header', id: null, guid };
  }
  return null;
}

/**
 * Reads up to `maxRecords` records of an uncompressed records section (the bytes after a batch's 61-byte
 * header, or their decompressed form) and returns the schema references they carry. Stops quietly at the first
 * record that does not parse: a truncated input (a decompression cut short on purpose) is normal here.
 */
export function scanSchemaRefs(records: Buffer, maxRecords: number): ScanResult {
  const c = new VarintCursor(records);
  const refs: SchemaRef[] = [];
  let plainValues = 0;
  let recordsRead = 0;
  while (recordsRead < maxRecords && c.offset < records.length) {
    const length = c.varint();
    if (length === null || length < 0) break;
    const end = c.offset + length;
    if (end > records.length) break;
    c.offset++; // attributes
    if (!c.skipVarlong() || c.varint() === null) break; // timestamp delta, offset delta
    const key = c.bytes();
    if (key === undefined) break;
    const value = c.bytes();
    if (value === undefined) break;
    const headerCount = c.varint();
    if (headerCount === null || headerCount < 0) break;
    const found: SchemaRef[] = [];
    const keyId = wireFormatId(key);
    if (keyId !== null) found.push({ part: 'key', via: 'payload', id: keyId, guid: null });
    const valueId = wireFormatId(value);
    if (valueId !== null) found.push({ part: 'value', via: 'payload', id: valueId, guid: null });
    let ok = true;
    for (let h = 0; h < headerCount; h++) {
      const name = c.bytes();
      const hv = c.bytes();
      if (name === undefined || name === null || hv === undefined) {
        ok = false;
        break;
      }
      // Compare lengths first: most headers are not ours, and this avoids decoding their names.
      if (name.length === KEY_SCHEMA_ID_HEADER.length && name.toString('latin1') === KEY_SCHEMA_ID_HEADER) {
        const ref = headerRef('key', hv);
        if (ref !== null) found.push(ref);
      } else if (name.length === VALUE_SCHEMA_ID_HEADER.length && name.toString('latin1') === VALUE_SCHEMA_ID_HEADER) {
        const ref = headerRef('value', hv);
        if (ref !== null) found.push(ref);
      }
    }
    if (!ok) break;
    c.offset = end;
    recordsRead++;
    if (value !== null && !found.some((r) => r.part === 'value')) plainValues++;
    refs.push(...found);
  }
  return { refs, plainValues, recordsRead };
}
