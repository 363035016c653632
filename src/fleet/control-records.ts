// The records of the control topics: a key and a JSON value per record, in uncompressed magic-2 record batches
// that kmp builds itself (docs/protocol-notes.md §b). Control traffic is a few small records a second, so no
// compression and no idempotent producer id: every control record is safe to append twice (a duplicate commit
// is skipped by the log's compare-and-set, a duplicate heartbeat or mapping is the same fact again).
import { Reader } from '../../protocol/reader.ts';
import { Writer } from '../../protocol/writer.ts';
import { crc32c } from '../../protocol/crc32c.ts';
import { BATCH_HEADER_SIZE, LOG_OVERHEAD, iterateBatches } from '../../protocol/record-batch.ts';

export interface ControlRecord {
  readonly key: string | null;
  /** null is a tombstone (compacted topics). */
  readonly value: string | null;
}

export interface ReadRecord extends ControlRecord {
  readonly offset: bigint;
  readonly timestamp: number;
}

function nullableBytes(w: Writer, text: string | null): void {
  if (text === null) {
    w.varint(-1);
    return;
  }
  const bytes = Buffer.from(text, 'utf8');
  w.varint(bytes.length);
  w.raw(bytes);
}

/** One uncompressed magic-2 batch holding `records`, CRC-32C over attributes..end as Kafka computes it. */
export function encodeControlBatch(records: readonly ControlRecord[], timestampMs: number = Date.now()): Buffer {
  if (records.length === 0) throw new RangeError('a control batch needs at least one record');
  const body = new Writer();
  records.forEach((r, i) => {
    const rec = new Writer();
    rec.int8(0); // record attributes: unused
    rec.varlong(0n); // timestamp delta
    rec.varint(i); // offset delta
    nullableBytes(rec, r.key);
    nullableBytes(rec, r.value);
    rec.varint(0); // no headers
    const bytes = rec.toBuffer();
    body.varint(bytes.length);
    body.raw(bytes);
  });
  const payload = body.toBuffer();
  const batch = Buffer.alloc(BATCH_HEADER_SIZE + payload.length);
  batch.writeBigInt64BE(0n, 0); // base offset: the broker assigns it
  batch.writeInt32BE(BATCH_HEADER_SIZE - LOG_OVERHEAD + payload.length, 8);
  batch.writeInt32BE(-1, 12); // partition leader epoch
  batch.writeInt8(2, 16); // magic
  batch.writeInt16BE(0, 21); // attributes: no compression, CreateTime, not transactional
  batch.writeInt32BE(records.length - 1, 23); // last offset delta
  batch.writeBigInt64BE(BigInt(timestampMs), 27);
  batch.writeBigInt64BE(BigInt(timestampMs), 35);
  batch.writeBigInt64BE(-1n, 43); // no producer id
  batch.writeInt16BE(-1, 51);
  batch.writeInt32BE(-1, 53);
  batch.writeInt32BE(records.length, 57);
  payload.copy(batch, BATCH_HEADER_SIZE);
  batch.writeUInt32BE(crc32c(batch, 21) >>> 0, 17);
  return batch;
}

function readNullable(r: Reader): string | null {
  const len = r.varint();
  if (len < 0) return null;
  return r.slice(len).toString('utf8');
}

/**
 * The records of a Fetch answer's records blob, in offset order. Control batches (transaction markers) are
 * skipped; a compressed or legacy batch is an error, since nothing but kmp writes these topics. A truncated last
 * batch (Fetch may cut one at maxBytes) ends the list: the next fetch starts from there.
 */
export function decodeControlRecords(records: Buffer | null): { records: ReadRecord[]; nextOffset: bigint | null } {
  const out: ReadRecord[] = [];
  let nextOffset: bigint | null = null;
  if (records === null || records.length === 0) return { records: out, nextOffset };
  let entries;
  try {
    entries = [...iterateBatchesLenient(records)];
  } catch (error) {
    throw new Error(`control topic: unreadable record batch: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const b of entries) {
    // A compacted or transaction-marker batch still advances the position past all of its offsets.
    nextOffset = b.baseOffset + BigInt(b.lastOffsetDelta) + 1n;
    if (b.isControl) continue;
    if (b.compression !== 0) throw new Error(`control topic: a batch at offset ${b.baseOffset} is compressed (${b.compressionName}); only kmp should write these topics`);
    const r = new Reader(b.buffer, b.offset + BATCH_HEADER_SIZE, b.offset + b.byteLength);
    for (let i = 0; i < b.recordCount; i++) {
      const length = r.varint();
      const end = r.offset + length;
      r.int8();
      const tsDelta = r.varlong();
      const offsetDelta = r.varint();
      const key = readNullable(r);
      const value = readNullable(r);
      for (let h = r.varint(); h > 0; h--) {
        readNullable(r);
        readNullable(r);
      }
      r.offset = end;
      out.push({ offset: b.baseOffset + BigInt(offsetDelta), timestamp: b.baseTimestamp + Number(tsDelta), key, value });
    }
  }
  return { records: out, nextOffset };
}

/** iterateBatches, stopping at a partial batch at the end (Fetch answers may end in one). */
function* iterateBatchesLenient(records: Buffer) {
  let end = 0;
  while (end + LOG_OVERHEAD <= records.length) {
    const length = records.readInt32BE(end + 8);
    if (end + LOG_OVERHEAD + length > records.length) break;
    end += LOG_OVERHEAD + length;
  }
  for (const entry of iterateBatches(records.subarray(0, end))) {
    if (entry.kind !== 'batch') throw new Error('a legacy (magic 0/1) message set');
    yield entry;
  }
}
