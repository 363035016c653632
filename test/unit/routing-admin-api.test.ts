// The admin API over the real control plane and journal store: a stale commit is a 409, and audit/ledger reads
// are paged with a cursor.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import client from 'prom-client';
import { createLogger } from '../../src/logger.ts';
import { startAdminServer } from '../../src/admin/server.ts';
import { createControlPlane } from '../../routing/control-plane.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';

const routes = { default: 'source', batches: { 'wave-1': { topics: ['orders'] }, 'wave-2': { topics: ['logs'] } } };
const logger = createLogger({ level: 'silent' });

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kmp-admin-routing-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function serve(path: string) {
  const cp = await createControlPlane({ rules: routes, store: new FileStateStore(path, { pollIntervalMs: 60_000 }), hooks: { partitionsOf: () => [0, 1, 2] } });
  const server = await startAdminServer({ listen: '127.0.0.1:0', tokens: [], controlPlane: cp, status: () => ({}), ready: () => true, registry: new client.Registry(), logger });
  const post = async (p: string) => {
    const res = await fetch(`${server.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const get = async (p: string) => (await (await fetch(`${server.url}${p}`)).json()) as { total: number; entries: { seq?: number; version?: number; topic?: string }[]; nextBefore: number | null };
  return { cp, server, post, get };
}

it('a route change committed by another writer first makes this one a 409 (nothing switched)', async () => {
  const path = join(dir, 'cas.json');
  const a = await serve(path);
  const b = await serve(path);
  try {
    assert.equal((await a.post('/v1/batches/wave-1/flip')).status, 200);
    const stale = await b.post('/v1/batches/wave-2/flip');
    assert.equal(stale.status, 409);
    const error = stale.body.error as { code: string; message: string; details: string[] };
    assert.match(error.message, /routes changed elsewhere/);
    assert.deepEqual(error.details, ['expected version 0, the store is at version 1']);
    assert.equal(b.cp.resolve('logs').cluster, 'source');
    assert.equal((await b.post('/v1/batches/wave-2/flip')).status, 200, 'the retry, on the current version, goes through');
  } finally {
    for (const s of [a, b]) {
      await s.server.close();
      await s.cp.close();
    }
  }
});

it('audit and ledger pages: newest first pages, oldest first within a page, nextBefore walks back', async () => {
  const s = await serve(join(dir, 'pages.json'));
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal((await s.post('/v1/batches/wave-1/flip')).status, 200);
      assert.equal((await s.post('/v1/batches/wave-1/rollback')).status, 200);
    }
    const page1 = await s.get('/v1/audit?limit=4');
    assert.equal(page1.total, 10);
    assert.deepEqual(page1.entries.map((e) => e.seq), [7, 8, 9, 10]);
    assert.equal(page1.nextBefore, 7);
    const page2 = await s.get(`/v1/audit?limit=4&before=${page1.nextBefore}`);
    assert.deepEqual(page2.entries.map((e) => e.seq), [3, 4, 5, 6]);
    const page3 = await s.get(`/v1/audit?limit=4&before=${page2.nextBefore}`);
    assert.deepEqual(page3.entries.map((e) => e.seq), [1, 2]);
    assert.equal(page3.nextBefore, null);

    const ledger = await s.get('/v1/ledger?topic=orders&limit=3');
    assert.equal(ledger.total, 30, '10 moves × 3 partitions');
    assert.deepEqual(ledger.entries.map((e) => e.version), [10, 10, 10]);
    const older = await s.get(`/v1/ledger?topic=orders&limit=3&before=${ledger.nextBefore}`);
    assert.deepEqual(older.entries.map((e) => e.version), [9, 9, 9]);
    const res = await fetch(`${s.server.url}/v1/audit?before=0`);
    assert.equal(res.status, 400);
  } finally {
    await s.server.close();
    await s.cp.close();
  }
});
