import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StaleVersionError, StateStoreError } from '../../routing/errors.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';
import type { AuditEntry, LedgerEntry } from '../../routing/route-state.ts';
import { encodeState, type ProducerMapping, type StateCommit, type StoreEvent } from '../../routing/state-store.ts';

function audit(seq: number, version: number): AuditEntry {
  return {
    seq,
    who: 'alice',
    when: '2026-01-02T03:04:05.000Z',
    action: 'flip',
    target: { kind: 'batch', name: `wave-${version}` },
    reason: 'go',
    changes: [{ kind: 'batch', name: `wave-${version}`, before: 'source', after: 'target' }],
    outcome: 'ok',
    version,
    details: {},
  };
}

function ledger(version: number, partition: number): LedgerEntry {
  return {
    topic: `t-${version}`,
    partition,
    from: 'source',
    to: 'target',
    version,
    lastOffsetOnOld: 9_223_372_036_854_775_000n + BigInt(partition),
    firstOffsetOnNew: null,
    holdMs: 1.5,
    at: '2026-01-02T03:04:05.000Z',
    reconciliation: false,
    reconcileFromOffset: null,
    failedDrain: false,
  };
}

function flip(version: number, partitions = 2): StateCommit {
  return {
    version,
    changes: [{ kind: 'batch', name: `wave-${version}`, before: 'source', after: 'target' }],
    audit: [audit(version, version)],
    ledger: Array.from({ length: partitions }, (_, p) => ledger(version, p)),
  };
}

const mapping: ProducerMapping = { clientProducerId: 4000n, clientEpoch: 0, cluster: 'target', generation: 1, upstreamProducerId: 9_007_199_254_740_993n, upstreamEpoch: 2 };

let dir = '';
let n = 0;
const fresh = (): string => join(dir, `s${++n}.json`);
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kmp-journal-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileStateStore journal', () => {
  it('replays commits, audit appends, first offsets and producer mappings after a restart', async () => {
    const path = fresh();
    const store = new FileStateStore(path);
    await store.commit(0, flip(1));
    await store.appendAudit({ ...audit(2, 1), outcome: 'refused' });
    await store.recordFirstOffsets([{ version: 1, topic: 't-1', partition: 1, offset: 42n }]);
    await store.commit(1, flip(2));
    await store.appendProducerMapping(mapping);
    await store.close();

    const reopened = new FileStateStore(path);
    const state = await reopened.load();
    assert.equal(state?.version, 2);
    assert.equal(state?.batches.get('wave-1'), 'target');
    assert.deepEqual(state?.audit.map((e) => [e.seq, e.outcome]), [[1, 'ok'], [2, 'refused'], [2, 'ok']]);
    assert.deepEqual(state?.ledger.map((e) => [e.version, e.partition, e.firstOffsetOnNew]), [[1, 0, null], [1, 1, 42n], [2, 0, null], [2, 1, null]]);
    assert.equal(state?.ledger[0].lastOffsetOnOld, 9_223_372_036_854_775_000n);
    assert.deepEqual(await reopened.loadProducerMappings(), [mapping]);
    // One line per write after the header: appends, not rewrites.
    assert.equal((await readFile(path, 'utf8')).split('\n').filter(Boolean).length, 1 + 5);
    await reopened.close();
  });

  it('commit is compare-and-set: a stale version is refused (409) and nothing is written', async () => {
    const path = fresh();
    const a = new FileStateStore(path);
    const b = new FileStateStore(path);
    await a.load();
    await b.load();
    await a.commit(0, flip(1));
    const size = (await stat(path)).size;
    await assert.rejects(b.commit(0, flip(1)), (error: unknown) => {
      assert.ok(error instanceof StaleVersionError);
      assert.equal(error.status, 409);
      assert.equal(error.expectedVersion, 0);
      assert.equal(error.actualVersion, 1);
      return true;
    });
    assert.equal((await stat(path)).size, size, 'the stale commit wrote nothing');
    // b has caught up and can commit on the current version.
    await b.commit(1, flip(2));
    assert.equal((await new FileStateStore(path).load())?.version, 2);
    await assert.rejects(a.commit(1, { ...flip(2), version: 5 }), StaleVersionError);
    await a.close();
    await b.close();
  });

  it('subscribe: a change written through a second store on the same file reaches the first', async () => {
    const path = fresh();
    const first = new FileStateStore(path, { pollIntervalMs: 10 });
    const second = new FileStateStore(path);
    await first.load();
    const events: StoreEvent[] = [];
    const unsubscribe = first.subscribe((e) => events.push(e));
    await second.commit(0, flip(1));
    await second.recordFirstOffsets([{ version: 1, topic: 't-1', partition: 0, offset: 7n }]);
    for (let i = 0; i < 100 && events.length < 2; i++) await sleep(10);
    assert.deepEqual(events.map((e) => e.type), ['commit', 'first-offsets']);
    const commit = events[0];
    assert.ok(commit.type === 'commit');
    assert.equal(commit.expectedVersion, 0);
    assert.equal(commit.commit.version, 1);
    assert.equal(commit.commit.ledger[1].lastOffsetOnOld, 9_223_372_036_854_775_001n);
    // Its own writes are not echoed back.
    await first.commit(1, flip(2));
    await sleep(50);
    assert.equal(events.length, 2);
    unsubscribe();
    await first.close();
    await second.close();
  });

  it('a torn last record is ignored (never acknowledged) and cut off before the next append', async () => {
    const path = fresh();
    const store = new FileStateStore(path);
    await store.commit(0, flip(1));
    await store.close();
    // A crash in the middle of appending the next commit:
    await appendFile(path, '{"t":"commit","expected":1,"version":2,"changes":[{"kind":"ba');
    const restarted = new FileStateStore(path);
    assert.equal((await restarted.load())?.version, 1);
    await restarted.commit(1, flip(2));
    await restarted.close();
    const text = await readFile(path, 'utf8');
    assert.ok(!text.includes('"kind":"ba{'), 'the torn bytes were cut off');
    assert.equal((await new FileStateStore(path).load())?.version, 2);
    // A garbled last line of full length (the newline made it, the data did not) is torn too.
    await appendFile(path, '{"t":"audit","entry":\u0000\u0000\u0000\n');
    assert.equal((await new FileStateStore(path).load())?.audit.length, 2);
  });

  it('a corrupt record in the middle, or a corrupt header, is an error, never "start from defaults"', async () => {
    const path = fresh();
    const store = new FileStateStore(path);
    await store.commit(0, flip(1));
    await store.commit(1, flip(2));
    await store.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    await writeFile(path, [lines[0], '{"t":"commit","expected":0,"vers', lines[2], ''].join('\n'));
    await assert.rejects(new FileStateStore(path).load(), (error: unknown) => {
      assert.ok(error instanceof StateStoreError);
      assert.match(error.message, /is invalid: line 2: not valid JSON/);
      return true;
    });
    await writeFile(path, [lines[0], lines[2], lines[1], ''].join('\n'));
    await assert.rejects(new FileStateStore(path).load(), /a commit from version 1 to 2 follows version 0/);
    await writeFile(path, [lines[0].replace('"format":2', '"format":3'), lines[1], ''].join('\n'));
    await assert.rejects(new FileStateStore(path).load(), StateStoreError);
  });

  it('migrates a v1 JSON document on first start', async () => {
    const path = fresh();
    const v1 = {
      version: 3,
      batches: new Map([['wave-1', 'promoted' as const]]),
      topics: new Map([['__proto__', 'target' as const]]),
      audit: [audit(1, 1), audit(2, 2), audit(3, 3)],
      ledger: [{ ...ledger(1, 0), firstOffsetOnNew: 5n }],
    };
    await writeFile(path, encodeState(v1));
    const store = new FileStateStore(path);
    assert.deepEqual(await store.load(), v1);
    assert.match((await readFile(path, 'utf8')).split('\n')[0], /^\{"format":2,"version":3,/);
    await store.commit(3, flip(4));
    await store.close();
    const after = await new FileStateStore(path).load();
    assert.equal(after?.version, 4);
    assert.equal(after?.topics.get('__proto__'), 'target');
    assert.equal(after?.ledger[0].firstOffsetOnNew, 5n);
  });

  it('compaction folds first offsets and duplicate mappings, keeps the history, and keeps writes made meanwhile', async () => {
    const path = fresh();
    const store = new FileStateStore(path, { compactAfterBytes: Number.MAX_SAFE_INTEGER });
    for (let v = 1; v <= 20; v++) {
      await store.commit(v - 1, flip(v));
      await store.recordFirstOffsets([{ version: v, topic: `t-${v}`, partition: 0, offset: BigInt(v * 10) }]);
      await store.recordFirstOffsets([{ version: v, topic: `t-${v}`, partition: 0, offset: BigInt(v * 10) }]);
    }
    await store.appendProducerMapping(mapping);
    await store.appendProducerMapping(mapping);
    const beforeBytes = (await stat(path)).size;
    const compaction = store.compact();
    const during = store.commit(20, flip(21)); // lands while the copy is written
    await Promise.all([compaction, during]);
    assert.equal(store.stats.compactions, 1);
    const afterBytes = (await stat(path)).size;
    assert.ok(afterBytes < beforeBytes, `${afterBytes} < ${beforeBytes}`);
    const text = await readFile(path, 'utf8');
    assert.equal(text.match(/"t":"first-offsets"/g), null, 'folded into the ledger entries');
    assert.equal(text.match(/"t":"producer-mapping"/g)?.length, 1);
    const state = await new FileStateStore(path).load();
    assert.equal(state?.version, 21);
    assert.equal(state?.audit.length, 21);
    assert.equal(state?.ledger.length, 42);
    assert.equal(state?.ledger.find((e) => e.version === 7 && e.partition === 0)?.firstOffsetOnNew, 70n);
    assert.deepEqual(await new FileStateStore(path).loadProducerMappings(), [mapping]);
    await store.commit(21, flip(22));
    assert.equal((await new FileStateStore(path).load())?.version, 22);
    await store.close();
  });

  it('compacts by itself once enough foldable records piled up', async () => {
    const path = fresh();
    const store = new FileStateStore(path, { compactAfterBytes: 2_000, sync: false });
    await store.commit(0, flip(1, 1));
    for (let i = 0; i < 40; i++) await store.recordFirstOffsets([{ version: 1, topic: 't-1', partition: 0, offset: BigInt(100 - i) }]);
    for (let i = 0; i < 100 && store.stats.compactions === 0; i++) await sleep(5);
    assert.ok(store.stats.compactions >= 1);
    assert.equal((await new FileStateStore(path).load())?.ledger[0].firstOffsetOnNew, 61n);
    await store.close();
  });
});
