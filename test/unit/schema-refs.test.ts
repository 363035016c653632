import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanSchemaRefs, wireFormatId } from '../../src/gates/schema-refs.ts';
import { encodeRecord } from '../support/build-batch.ts';

const wire = (id: number, rest = 'payload'): Buffer => {
  const b = Buffer.alloc(5);
  b.writeInt32BE(id, 1);
  return Buffer.concat([b, Buffer.from(rest)]);
};

test('wireFormatId reads magic 0 + a 4-byte big-endian id and nothing else', () => {
  assert.equal(wireFormatId(wire(258)), 258);
  assert.equal(wireFormatId(Buffer.from([0, 0, 0, 1])), null); // too short for an id
  assert.equal(wireFormatId(Buffer.from('{"json":true}')), null);
  assert.equal(wireFormatId(null), null);
});

test('scanSchemaRefs finds ids in keys, values and the __key/__value_schema_id headers', () => {
  const guid = Buffer.concat([Buffer.from([1]), Buffer.from('00112233445566778899aabbccddeeff', 'hex')]);
  const records = Buffer.concat([
    encodeRecord({ key: wire(1), value: wire(2) }, 0),
    encodeRecord({ key: 'plain', value: 'raw', headers: [['trace', 'x'], ['__value_schema_id', wire(5, '')]] }, 1),
    encodeRecord({ value: 'avro-without-prefix', headers: [['__key_schema_id', guid]] }, 2),
    encodeRecord({ value: 'plain again' }, 3),
  ]);
  const r = scanSchemaRefs(records, 16);
  assert.equal(r.recordsRead, 4);
  assert.deepEqual(r.refs, [
    { part: 'key', via: 'payload', id: 1, guid: null },
    { part: 'value', via: 'payload', id: 2, guid: null },
    { part: 'value', via: 'header', id: 5, guid: null },
    { part: 'key', via: 'header', id: null, guid: '00112233-4455-6677-8899-aabbccddeeff' },
  ]);
  // Records 3 and 4 carry a value with no schema reference.
  assert.equal(r.plainValues, 2);
});

test('scanSchemaRefs reads at most maxRecords and stops quietly at a truncated record', () => {
  const records = Buffer.concat(Array.from({ length: 10 }, (_, i) => encodeRecord({ value: wire(100 + i) }, i)));
  assert.deepEqual(scanSchemaRefs(records, 3).refs.map((r) => r.id), [100, 101, 102]);
  const cut = records.subarray(0, records.length - 3);
  const r = scanSchemaRefs(cut, 100);
  assert.equal(r.recordsRead, 9);
  assert.deepEqual(scanSchemaRefs(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 5), { refs: [], plainValues: 0, recordsRead: 0 });
});
