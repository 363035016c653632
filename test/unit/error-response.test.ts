import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorResponseFrame } from '../../src/proxy/error-response.ts';
import { decodeResponse } from '../../protocol/codec.ts';
import { ApiKey } from '../../protocol/messages/index.ts';

function decode(chunks: Buffer[], apiKey: number, version: number) {
  const frame = Buffer.concat(chunks);
  assert.equal(frame.readInt32BE(0), frame.length - 4, 'size prefix');
  return decodeResponse(frame.subarray(4), apiKey, version);
}

test('an API with a top-level error code gets an error answer with the message where the version has one', () => {
  const end = decode(errorResponseFrame(ApiKey.EndTxn, 3, 41, 53, 'no transactions')!, ApiKey.EndTxn, 3);
  assert.equal(end.correlationId, 41);
  assert.equal((end.body as { errorCode: number }).errorCode, 53);
  const dc = decode(errorResponseFrame(ApiKey.DescribeCluster, 1, 42, 35, 'not served')!, ApiKey.DescribeCluster, 1);
  assert.deepEqual([(dc.body as { errorCode: number }).errorCode, (dc.body as { errorMessage: string }).errorMessage], [35, 'not served']);
});

test('no answer where the format cannot carry one: per-item errors, unknown keys, versions out of range', () => {
  assert.equal(errorResponseFrame(ApiKey.ListOffsets, 5, 1, 35), null);
  assert.equal(errorResponseFrame(ApiKey.AddPartitionsToTxn, 3, 1, 53), null, 'v0-3 carry errors per partition only');
  assert.notEqual(errorResponseFrame(ApiKey.AddPartitionsToTxn, 4, 1, 53), null, 'v4+ has a top-level error code');
  assert.equal(errorResponseFrame(9999, 0, 1, 35), null);
  assert.equal(errorResponseFrame(ApiKey.EndTxn, 99, 1, 53), null);
});
