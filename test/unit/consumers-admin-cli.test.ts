// The admin routes and CLI commands of consumer moves, against an admin server whose consumer moves are a
// recording fake (the moves themselves run on real brokers in test/integration/consumer-moves.test.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import client from 'prom-client';
import { createLogger } from '../../src/logger.ts';
import { startAdminServer, type AdminServer } from '../../src/admin/server.ts';
import { createControlPlane, type ControlPlane } from '../../routing/control-plane.ts';
import { MemoryStateStore } from '../../routing/state-store.ts';
import type { AdminConsumers } from '../../src/consumers/setup.ts';
import type { MoveResult } from '../../src/consumers/consumer-moves.ts';
import { ConsumerMoveRefusedError, ConsumerNotFoundError } from '../../src/consumers/errors.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
const OPS = 'ops-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';

let server: AdminServer;
let cp: ControlPlane;
const calls: { kind: string; args: unknown }[] = [];

function moveResult(group: string, request: Parameters<AdminConsumers['move']>[1]): MoveResult {
  const [from, to] = request.direction === 'to-target' ? (['source', 'target'] as const) : (['target', 'source'] as const);
  return {
    group, wave: request.wave, direction: request.direction, from, to, state: { source: 'Empty', target: null },
    partitions: [{ topic: 'orders', partition: 0, committed: 27n, fromEnd: 40n, toEnd: 20n, lag: 13n, placement: { kind: 'exact', offset: 7n, rule: 'copied-record' } }],
    refusals: [], ready: true, dryRun: request.dryRun, outcome: request.dryRun ? 'planned' : 'ok', committed: [], warnings: [],
  };
}

const fake: AdminConsumers = {
  list: async (wave) => {
    calls.push({ kind: 'list', args: wave });
    if (wave === 'nope') throw new ConsumerNotFoundError('no wave (batch) named "nope"');
    return {
      waves: [{
        wave: wave ?? 'wave-1', topics: ['orders'],
        groups: [{
          group: 'billing', readsFrom: 'source',
          clusters: { source: { state: 'Empty', members: 0, partitions: 2, lag: 12345678901234567n }, target: null },
          next: { direction: 'to-target', ready: false, recordsToGo: 10n, refusals: ['orders-0: not ready, 10 records to go'] },
        }],
      }],
    };
  },
  move: async (group, request) => {
    calls.push({ kind: 'move', args: { group, ...request } });
    if (group === 'busy') throw new ConsumerMoveRefusedError('move of group "busy" to the target refused: 1 reason(s); nothing was changed', ['group "busy" is not empty on the source (state Stable, 1 member(s): c1@/10.0.0.1)'], null);
    return moveResult(group, request);
  },
};

before(async () => {
  cp = await createControlPlane({ rules: { default: 'source', batches: { 'wave-1': { topics: ['orders'] } } }, store: new MemoryStateStore() });
  server = await startAdminServer({
    listen: '127.0.0.1:0',
    tokens: [{ name: 'ops-alice', role: 'operator', token: OPS }, { name: 'grafana', role: 'viewer', token: VIEWER }],
    controlPlane: cp,
    status: () => ({}),
    ready: () => true,
    registry: new client.Registry(),
    logger: createLogger({ level: 'silent', pretty: false }),
    consumers: fake,
  });
});

after(async () => {
  await server.close();
  await cp.close();
});

async function http(method: string, p: string, token: string, body?: string, type = 'application/json'): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${p}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': type } : {}) }, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, json: await res.json() };
}

function kmp(args: readonly string[], token = OPS): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--admin', server.url], { env: { ...process.env, KMP_ADMIN_TOKEN: token, KMP_ADMIN_URL: '' } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

test('GET /v1/consumers passes the wave and answers int64 lags as decimal strings', async () => {
  const r = await http('GET', '/v1/consumers?wave=wave-1', VIEWER);
  assert.equal(r.status, 200);
  assert.equal(r.json.waves[0].groups[0].clusters.source.lag, '12345678901234567');
  assert.deepEqual(calls.at(-1), { kind: 'list', args: 'wave-1' });
  assert.equal((await http('GET', '/v1/consumers?wave=nope', VIEWER)).status, 404);
  assert.equal((await http('GET', '/v1/consumers?wave=', VIEWER)).status, 400);
});

test('POST /v1/consumers/{group}/move: operator only, JSON only, strict body, the token name recorded', async () => {
  assert.equal((await http('POST', '/v1/consumers/billing/move', VIEWER, '{"wave":"wave-1"}')).status, 403);
  assert.equal((await http('POST', '/v1/consumers/billing/move', OPS, '{"wave":"wave-1"}', 'text/plain')).status, 415);
  const missing = await http('POST', '/v1/consumers/billing/move', OPS, '{}');
  assert.equal(missing.status, 400);
  assert.match(missing.json.error.message, /wave/);
  assert.equal((await http('POST', '/v1/consumers/billing/move', OPS, '{"wave":"wave-1","direction":"sideways"}')).status, 400);
  assert.equal((await http('POST', '/v1/consumers/billing/move', OPS, '{"wave":"wave-1","force":true}')).status, 400);
  const ok = await http('POST', '/v1/consumers/billing%2Feu/move', OPS, '{"wave":"wave-1","reason":"done"}');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.partitions[0].placement.offset, '7');
  assert.deepEqual(calls.at(-1), { kind: 'move', args: { group: 'billing/eu', wave: 'wave-1', direction: 'to-target', dryRun: false, who: 'ops-alice', reason: 'done' } });
});

test('a refused move is a 409 with every reason', async () => {
  const r = await http('POST', '/v1/consumers/busy/move', OPS, '{"wave":"wave-1"}');
  assert.equal(r.status, 409);
  assert.equal(r.json.error.code, 'CONSUMER_MOVE_REFUSED');
  assert.match(r.json.error.details[0], /not empty on the source/);
});

test('kmp consumers lists groups with their readiness', async () => {
  const run = await kmp(['consumers', '--wave', 'wave-1'], VIEWER);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /wave wave-1 \(1 topic\)/);
  assert.match(run.stdout, /billing {2}reads source {2}source: Empty, 0 member\(s\), lag 12345678901234567 {2}target: - {2}not ready, 10 records to go/);
});

test('kmp consumers move: --dry-run and --back reach the API; a refusal exits 1 with the reasons', async () => {
  const dry = await kmp(['consumers', 'move', 'billing', '--wave', 'wave-1', '--dry-run', '--back']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(calls.at(-1), { kind: 'move', args: { group: 'billing', wave: 'wave-1', direction: 'to-source', dryRun: true, who: 'ops-alice', reason: '' } });
  assert.match(dry.stdout, /dry run: group billing \(wave wave-1\) can move from the target to the source; nothing was changed/);
  assert.match(dry.stdout, /orders-0 {2}target offset 27 \(lag 13\) -> source offset 7/);
  const refused = await kmp(['consumers', 'move', 'busy', '--wave', 'wave-1']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refused.*\(409 CONSUMER_MOVE_REFUSED\)/);
  assert.match(refused.stderr, /- group "busy" is not empty on the source/);
});

test('kmp consumers: usage errors exit 2', async () => {
  assert.equal((await kmp(['consumers', 'move', 'billing'])).code, 2);
  assert.equal((await kmp(['consumers', '--back'])).code, 2);
  assert.equal((await kmp(['consumers', 'frobnicate', 'x', '--wave', 'w'])).code, 2);
});
