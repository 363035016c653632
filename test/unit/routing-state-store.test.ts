import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StateStoreError } from '../../routing/errors.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';
import type { RouteState } from '../../routing/route-state.ts';
import { MemoryStateStore, decodeState, encodeState } from '../../routing/state-store.ts';

function sampleState(version = 3): RouteState {
  return {
    version,
    batches: new Map([
      ['wave-1', 'target'],
      ['wave-2', 'promoted'],
    ]),
    topics: new Map([
      ['orders', 'source'],
      ['__proto__', 'target'],
    ]),
    audit: [
      {
        seq: 1,
        who: 'alice',
        when: '2026-01-02T03:04:05.000Z',
        action: 'flip',
        target: { kind: 'batch', name: 'wave-1' },
        reason: 'wave 1 go',
        changes: [{ kind: 'batch', name: 'wave-1', before: 'source', after: 'target' }],
        outcome: 'forced',
        version: 1,
        details: { refusals: ['orders: 3 vs 6 partitions'], holdMs: 12.5, topics: ['orders'] },
      },
    ],
    ledger: [
      {
        topic: 'orders',
        partition: 0,
        from: 'source',
        to: 'target',
        version: 1,
        lastOffsetOnOld: 9_223_372_036_854_775_807n,
        firstOffsetOnNew: 0n,
        holdMs: 12.5,
        at: '2026-01-02T03:04:05.000Z',
        reconciliation: false,
        reconcileFromOffset: null,
        failedDrain: false,
      },
      {
        topic: 'orders',
        partition: 1,
        from: 'target',
        to: 'source',
        version: 2,
        lastOffsetOnOld: null,
        firstOffsetOnNew: null,
        holdMs: 0,
        at: '2026-01-02T03:04:06.000Z',
        reconciliation: true,
        reconcileFromOffset: 42n,
        failedDrain: true,
      },
    ],
  };
}

describe('state codec', () => {
  it('round-trips the whole state, bigints included', () => {
    const state = sampleState();
    assert.deepEqual(decodeState(encodeState(state), 'test'), state);
  });

  it('writes offsets as strings and names as arrays (no "__proto__" object keys)', () => {
    const json = JSON.parse(encodeState(sampleState()));
    assert.equal(json.ledger[0].lastOffsetOnOld, '9223372036854775807');
    assert.deepEqual(json.topics[1], { name: '__proto__', state: 'target' });
    assert.equal(json.format, 1);
  });

  it('rejects invalid documents with the path of the bad key', () => {
    const json = JSON.parse(encodeState(sampleState()));
    json.ledger[0].lastOffsetOnOld = 12;
    assert.throws(() => decodeState(JSON.stringify(json), 'x.json'), (error: unknown) => {
      assert.ok(error instanceof StateStoreError);
      assert.match(error.message, /route state x\.json is invalid: ledger\.0\.lastOffsetOnOld/);
      return true;
    });
    assert.throws(() => decodeState('{"format":1,', 'x.json'), /not valid JSON/);
    assert.throws(() => decodeState(JSON.stringify({ ...json, format: 2 }), 'x.json'), /format/);
  });

  it('the memory store goes through the codec', async () => {
    const store = new MemoryStateStore();
    assert.equal(await store.load(), null);
    const state = sampleState();
    await store.save(state);
    const loaded = await store.load();
    assert.deepEqual(loaded, state);
    assert.notEqual(loaded?.ledger[0], state.ledger[0]);
  });
});

describe('FileStateStore', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmp-state-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns null when nothing was saved', async () => {
    assert.equal(await new FileStateStore(join(dir, 'none.json')).load(), null);
  });

  it('saves atomically and a new instance (a restart) reloads it', async () => {
    const path = join(dir, 'state.json');
    await new FileStateStore(path).save(sampleState(3));
    await new FileStateStore(path).save(sampleState(4));
    assert.deepEqual(await new FileStateStore(path).load(), sampleState(4));
    // no temp files left behind
    assert.deepEqual(await readdir(dir), ['state.json']);
  });

  it('ignores a leftover temp file from a crash between write and rename', async () => {
    const path = join(dir, 'crash.json');
    const store = new FileStateStore(path);
    await store.save(sampleState(7));
    // A crash after writing (part of) a newer temp file but before the rename leaves this behind:
    await writeFile(join(dir, `.crash.json.999.deadbeef0000.tmp`), '{"format":1,"version":8,"batch');
    assert.equal((await new FileStateStore(path).load())?.version, 7);
    await store.save(sampleState(9));
    assert.equal((await new FileStateStore(path).load())?.version, 9);
  });

  it('concurrent saves land in call order (the last call wins)', async () => {
    const path = join(dir, 'order.json');
    const store = new FileStateStore(path);
    await Promise.all([10, 11, 12, 13, 14].map((v) => store.save(sampleState(v))));
    assert.equal((await store.load())?.version, 14);
  });

  it('a corrupt file is an error, never an empty state', async () => {
    const path = join(dir, 'corrupt.json');
    await writeFile(path, '{"format":1,"version":');
    await assert.rejects(new FileStateStore(path).load(), (error: unknown) => {
      assert.ok(error instanceof StateStoreError);
      assert.match(error.message, /corrupt\.json is not valid JSON/);
      return true;
    });
  });

  it('a failed save reports the path and removes its temp file', async () => {
    // A missing folder is created (a fresh checkout has none); a parent that is a file cannot be.
    await new FileStateStore(join(dir, 'missing-dir', 'state.json')).save(sampleState(1));
    assert.deepEqual(await readdir(join(dir, 'missing-dir')), ['state.json']);
    await writeFile(join(dir, 'a-file'), 'x');
    await assert.rejects(new FileStateStore(join(dir, 'a-file', 'state.json')).save(sampleState(1)), StateStoreError);
    // The rename fails when the destination is a non-empty directory: the temp file must not stay behind.
    const sub = join(dir, 'blocked');
    await mkdir(join(sub, 'state.json', 'inside'), { recursive: true });
    await assert.rejects(new FileStateStore(join(sub, 'state.json')).save(sampleState(1)), (error: unknown) => {
      assert.ok(error instanceof StateStoreError);
      assert.match(error.message, /cannot save route state to .*blocked\/state\.json/);
      return true;
    });
    assert.deepEqual(await readdir(sub), ['state.json']);
  });
});
