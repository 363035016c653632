// Cluster health: a probe failure marks the cluster down with the reason, a success brings it back; readiness is
// 503 while starting, stopping or with no cluster up, 200 but degraded with one cluster down (503 with
// require=all); the admin API and `kmp status` show it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { ClusterHealth, readinessOf, type ClusterHealthView } from '../../src/cluster-health.ts';
import { startAdminServer } from '../../src/admin/server.ts';
import { formatStatus } from '../../src/cli/format.ts';
import { createControlPlane } from '../../routing/control-plane.ts';
import { MemoryStateStore } from '../../routing/state-store.ts';
import { createLogger } from '../../src/logger.ts';
import type { Cluster } from '../../routing/cluster.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('probes: down with the reason, up again when the cluster answers; a dropped broker probes at once', async () => {
  const failing = new Set<Cluster>(['target']);
  let probes = 0;
  const health = new ClusterHealth({
    clusters: ['source', 'target'],
    probe: async (c) => {
      probes++;
      if (failing.has(c)) throw new Error(`${c} cluster unreachable: connect ECONNREFUSED 127.0.0.1:1`);
    },
    intervalMs: 10_000, downIntervalMs: 10_000, timeoutMs: 200,
  });
  assert.equal(health.state('source'), 'starting');
  health.start();
  await health.settled(1000);
  assert.equal(health.state('source'), 'up');
  assert.equal(health.state('target'), 'down');
  assert.match(health.view().target.reason ?? '', /ECONNREFUSED/);
  // No timer tick for 10 s: only probeNow (a broker connection changed) can notice these.
  failing.clear();
  failing.add('source');
  health.probeNow('source');
  health.probeNow('target');
  await sleep(50);
  assert.equal(health.state('source'), 'down');
  assert.equal(health.state('target'), 'up');
  assert.equal(health.view().target.reason, null);
  assert.ok(probes >= 4);
  health.stop();
});

test('a probe that hangs counts as failed after the timeout', async () => {
  const health = new ClusterHealth({ clusters: ['source'], probe: () => new Promise(() => {}), timeoutMs: 50 });
  health.start();
  await health.settled(1000);
  assert.equal(health.state('source'), 'down');
  assert.match(health.view().source.reason ?? '', /no answer within 50 ms/);
  health.stop();
});

const view = (state: ClusterHealthView['state'], reason: string | null = null): ClusterHealthView => ({ state, since: '2026-01-01T00:00:00.000Z', reason, lastOkAt: null });

test('readiness: exactly when /readyz fails', () => {
  const both = { source: view('up'), target: view('up') };
  const oneDown = { source: view('up'), target: view('down', 'connect ECONNREFUSED') };
  const none = { source: view('down', 'x'), target: view('down', 'y') };
  assert.deepEqual(readinessOf(both, { stopping: false, requireAll: false }).status, 'ok');
  const degraded = readinessOf(oneDown, { stopping: false, requireAll: false });
  assert.deepEqual([degraded.ready, degraded.status], [true, 'degraded']);
  assert.deepEqual(degraded.reasons, ['target: down since 2026-01-01T00:00:00.000Z: connect ECONNREFUSED']);
  assert.equal(readinessOf(oneDown, { stopping: false, requireAll: true }).ready, false, 'require=all');
  assert.deepEqual(Object.values(readinessOf(none, { stopping: false, requireAll: false })).slice(0, 2), [false, 'down']);
  assert.deepEqual(Object.values(readinessOf({ source: view('starting'), target: view('starting') }, { stopping: false, requireAll: false })).slice(0, 2), [false, 'starting']);
  assert.deepEqual(Object.values(readinessOf(both, { stopping: true, requireAll: false })).slice(0, 2), [false, 'stopping']);
});

test('/readyz and kmp status show the per-cluster health', async () => {
  const cp = await createControlPlane({ rules: { default: 'source', batches: {} }, store: new MemoryStateStore() });
  const clusters = { source: view('up'), target: view('down', 'connect ECONNREFUSED 127.0.0.1:29092') };
  const server = await startAdminServer({
    listen: '127.0.0.1:0', tokens: [], controlPlane: cp as never,
    status: () => ({ ...readinessOf(clusters, { stopping: false, requireAll: false }), connections: 3 }),
    ready: ({ requireAll }) => readinessOf(clusters, { stopping: false, requireAll }),
    registry: new client.Registry(),
    logger: createLogger({ level: 'silent', pretty: false }),
  });
  try {
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
    const body = await ready.json() as { status: string; clusters: Record<string, { state: string; reason: string }> };
    assert.equal(body.status, 'degraded');
    assert.equal(body.clusters.target.state, 'down');
    assert.match(body.clusters.target.reason, /ECONNREFUSED/);
    assert.equal((await fetch(`${server.url}/readyz?require=all`)).status, 503);
    assert.equal((await fetch(`${server.url}/readyz?require=most`)).status, 400);
    const status = await (await fetch(`${server.url}/v1/status`)).json();
    const text = formatStatus(status);
    assert.match(text, /^health: degraded$/m);
    assert.match(text, /^target +down +2026-01-01T00:00:00.000Z +connect ECONNREFUSED 127\.0\.0\.1:29092$/m);
    assert.match(text, /^connections: 3$/m);
  } finally {
    await server.close();
    await cp.close();
  }
});
