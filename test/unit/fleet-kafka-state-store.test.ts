// The fleet's control-topic pieces without a broker: the record-batch codec against the independent test encoder
// (test/support/build-batch.ts, @node-rs/crc32), and the Kafka-backed StateStore's log compare-and-set over a log
// kept in memory behind the same ControlLogPort the real client implements.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { crc32c } from '@node-rs/crc32';
import { buildBatch } from '../support/build-batch.ts';
import { decodeControlRecords, encodeControlBatch, type ControlRecord, type ReadRecord } from '../../src/fleet/control-records.ts';
import { MemoryControlLog } from '../support/memory-control-log.ts';
import { KafkaStateStore } from '../../src/fleet/kafka-state-store.ts';
import { StaleVersionError } from '../../routing/errors.ts';
import type { StateCommit, StoreEvent } from '../../routing/state-store.ts';

const silent = pino({ level: 'silent' });

function flip(version: number, name: string): StateCommit {
  return { version, changes: [{ kind: 'batch', name, before: 'source', after: 'target' }], audit: [], ledger: [] };
}

function store(log: MemoryControlLog): KafkaStateStore {
  return new KafkaStateStore({ log, routesTopic: 'r', producerIdsTopic: 'p', logger: silent, lanes: [1, 2] });
}

describe('control record batches', () => {
  it('encodes a magic-2 batch whose CRC-32C a second implementation accepts, and decodes keys, values and tombstones', () => {
    const records = [{ key: 'a', value: '{"x":1}' }, { key: 'b', value: null }, { key: null, value: 'é ü' }];
    const batch = encodeControlBatch(records, 1_700_000_000_123);
    assert.equal(batch.readUInt32BE(17), crc32c(batch.subarray(21)) >>> 0);
    batch.writeBigInt64BE(40n, 0); // as a broker would assign the offsets
    const decoded = decodeControlRecords(batch);
    assert.deepEqual(decoded.records.map((r) => ({ key: r.key, value: r.value })), records);
    assert.deepEqual(decoded.records.map((r) => r.offset), [40n, 41n, 42n]);
    assert.equal(decoded.nextOffset, 43n);
    assert.equal(decoded.records[0].timestamp, 1_700_000_000_123);
  });

  it('reads batches the independent encoder built, skipping a truncated last batch', () => {
    const a = buildBatch({ baseOffset: 7n, records: [{ key: 'k', value: 'v1' }, { key: 'k', value: 'v2' }] });
    const b = buildBatch({ baseOffset: 9n, records: [{ key: 'k', value: 'v3' }] });
    const blob = Buffer.concat([a, b.subarray(0, b.length - 3)]);
    const decoded = decodeControlRecords(blob);
    assert.deepEqual(decoded.records.map((r) => [r.offset, r.value]), [[7n, 'v1'], [8n, 'v2']]);
    assert.equal(decoded.nextOffset, 9n);
  });

  it('refuses a compressed batch with a clear error', () => {
    const gz = buildBatch({ attributes: 1, recordsPayload: Buffer.alloc(8), recordsCount: 1 });
    assert.throws(() => decodeControlRecords(gz), /compressed \(gzip\)/);
  });
});

describe('KafkaStateStore: compare-and-set on a log', () => {
  it('two writers commit on the same version: the first in the log wins, the other gets StaleVersionError, and both agree', async () => {
    const log = new MemoryControlLog();
    const a = store(log);
    const b = store(log);
    await Promise.all([a.load(), b.load()]);
    const seenByB: StoreEvent[] = [];
    b.subscribe((e) => seenByB.push(e));
    const results = await Promise.allSettled([a.commit(0, flip(1, 'wave-a')), b.commit(0, flip(1, 'wave-b'))]);
    const won = results.filter((r) => r.status === 'fulfilled').length;
    const lost = results.filter((r) => r.status === 'rejected' && r.reason instanceof StaleVersionError).length;
    assert.equal(won, 1);
    assert.equal(lost, 1);
    // Both logs hold two commit records; both stores applied only the first.
    assert.equal(log.topics.get('r')?.length, 2);
    const sa = await a.load();
    const sb = await b.load();
    assert.equal(sa?.version, 1);
    assert.deepEqual([...(sa?.batches ?? [])], [...(sb?.batches ?? [])]);
    const winner = results[0].status === 'fulfilled' ? 'wave-a' : 'wave-b';
    assert.deepEqual([...(sa?.batches.keys() ?? [])], [winner]);
    // B hears A's commit only if A won (a store never echoes its own writes, and a lost commit is no event).
    assert.equal(seenByB.length, winner === 'wave-a' ? 1 : 0);
    await Promise.all([a.close(), b.close()]);
  });

  it('a third store started later replays the log to the same state; producer mappings: first per key wins', async () => {
    const log = new MemoryControlLog();
    const a = store(log);
    await a.load();
    await a.commit(0, flip(1, 'w1'));
    await a.commit(1, { version: 2, changes: [{ kind: 'batch', name: 'w1', before: 'target', after: 'source' }], audit: [], ledger: [] });
    const m = { clientProducerId: 5n, clientEpoch: 0, cluster: 'target' as const, generation: 1 };
    await a.appendProducerMapping({ ...m, upstreamProducerId: 100n, upstreamEpoch: 0 });
    await a.appendProducerMapping({ ...m, upstreamProducerId: 200n, upstreamEpoch: 0 });
    const c = store(log);
    const state = await c.load();
    assert.equal(state?.version, 2);
    assert.equal(state?.batches.get('w1'), 'source');
    assert.equal(c.mapping('5/0/target/1')?.upstreamProducerId, 100n);
    assert.equal(a.mapping('5/0/target/1')?.upstreamProducerId, 100n);
    await assert.rejects(c.commit(0, flip(1, 'w2')), StaleVersionError);
    await Promise.all([a.close(), c.close()]);
  });

  it('a move aborted in the route log (its coordinator gone) cannot commit afterwards; an abort after the commit returns the commit', async () => {
    const log = new MemoryControlLog();
    const [coordinator, member] = [store(log), store(log)];
    await Promise.all([coordinator.load(), member.load()]);
    assert.deepEqual(await member.abortMove('move-1', 'kmp-b'), { outcome: 'aborted' });
    const late = coordinator.commit(0, { ...flip(1, 'wave-a'), moveId: 'move-1' });
    await assert.rejects(late, /aborted by another instance/);
    assert.equal((await coordinator.load())?.version ?? 0, 0, 'nothing was switched');
    assert.equal((await member.load())?.version ?? 0, 0);
    await coordinator.commit(0, { ...flip(1, 'wave-b'), moveId: 'move-2' });
    await member.routesTailer.readTo((await log.endOffset('r')) - 1n);
    assert.deepEqual(await member.abortMove('move-2', 'kmp-b'), { outcome: 'committed', version: 1, changes: flip(1, 'wave-b').changes });
    const third = store(log);
    await third.load();
    assert.equal(third.decisionOf('move-1')?.outcome, 'aborted', 'a member started later replays the same decisions');
    assert.equal(third.decisionOf('move-2')?.outcome, 'committed');
    await Promise.all([coordinator.close(), member.close(), third.close()]);
  });
});
