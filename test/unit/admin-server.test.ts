import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import client from 'prom-client';
import type { AdminToken } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';
import { startAdminServer, isLoopbackHost, type AdminServer, type AdminServerOptions } from '../../src/admin/server.ts';
import type { AdminControlPlane, OperationResult, RoutesView, WriteOptions } from '../../src/admin/control-plane-port.ts';
import { NotFoundError, RouteConflictError, FlipAbortedError } from '../../routing/errors.ts';
import { createControlPlane } from '../../routing/control-plane.ts';
import { MemoryStateStore } from '../../routing/state-store.ts';

const OPS_TOKEN = 'ops-token-0123456789abcdef';
const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';
const TOKENS: AdminToken[] = [
  { name: 'ops-alice', role: 'operator', token: OPS_TOKEN },
  { name: 'grafana', role: 'viewer', token: VIEWER_TOKEN },
];

interface Call {
  readonly method: string;
  readonly name: string | null;
  readonly options: WriteOptions;
}

function operation(action: OperationResult['action'], name: string | null, options: WriteOptions): OperationResult {
  return {
    dryRun: options.dryRun === true,
    action,
    target: { kind: name === null ? 'all' : 'batch', name },
    outcome: options.dryRun === true ? 'planned' : 'ok',
    version: options.dryRun === true ? 4 : 5,
    previousVersion: 4,
    changes: name === null ? [] : [{ kind: 'batch', name, before: 'source', after: 'target' }],
    move: { from: 'source', to: 'target', topics: ['orders'] },
    preflight: null,
    forced: [],
    refusals: [],
    timings: options.dryRun === true ? null : { holdMs: 3, drainMs: 2, commitMs: 1, totalMs: 4 },
    partitionErrors: options.dryRun === true ? null : { total: 0, byError: {}, reasons: {} },
    warmUp: null,
    ledger:
      options.dryRun === true
        ? []
        : [
            {
              topic: 'orders',
              partition: 0,
              from: 'source',
              to: 'target',
              version: 5,
              lastOffsetOnOld: 9_007_199_254_740_993n, // above 2^53: must survive as a string
              firstOffsetOnNew: null,
              holdMs: 3,
              at: '2026-01-01T00:00:00.000Z',
              reconciliation: false,
              reconcileFromOffset: null,
              failedDrain: false,
            },
          ],
    heldRequests: 2,
    rejectedRequests: 0,
    reconciliation: false,
  };
}

const ROUTES: RoutesView = {
  version: 4,
  default: 'source',
  batches: [
    { name: 'wave-1', state: 'source', cluster: 'source', topics: ['orders', 'payments'], prefixes: ['billing.'], patterns: [] },
    { name: 'wave-2', state: 'target', cluster: 'target', topics: [], prefixes: [], patterns: ['^logs\\..*'] },
  ],
  topics: [],
  orphanedBatches: [],
  moves: [],
};

/** Records every write; `wave-1` exists, `busy` is always in conflict, `slow` aborts, `boom` is a bug. */
class FakeControlPlane implements AdminControlPlane {
  readonly calls: Call[] = [];

  routes(): RoutesView {
    return ROUTES;
  }

  resolve(topic: string): ReturnType<AdminControlPlane['resolve']> {
    return { topic, cluster: 'source', batch: 'wave-1', rule: { kind: 'exact', value: topic }, state: 'source', version: 4 };
  }

  audit(): ReturnType<AdminControlPlane['audit']> {
    return [1, 2, 3].map((seq) => ({
      seq,
      who: 'ops-alice',
      when: '2026-01-01T00:00:00.000Z',
      action: 'flip' as const,
      target: { kind: 'batch' as const, name: 'wave-1' },
      reason: `r${seq}`,
      changes: [],
      outcome: 'ok' as const,
      version: seq,
      details: {},
    }));
  }

  ledger(): ReturnType<AdminControlPlane['ledger']> {
    return [...operation('flip', 'wave-1', { who: 'x' }).ledger, { ...operation('flip', 'wave-1', { who: 'x' }).ledger[0], topic: 'payments' }];
  }

  #write(method: string, name: string | null, options: WriteOptions, action: OperationResult['action']): Promise<OperationResult> {
    this.calls.push({ method, name, options });
    if (name === 'busy') return Promise.reject(new RouteConflictError('flip of batch "busy" conflicts with the flip of batch "busy" that is running', ['running: busy']));
    if (name === 'slow') return Promise.reject(new FlipAbortedError('drain did not finish within 10000 ms', { outcome: 'aborted', heldRequests: 7 }));
    if (name === 'boom') return Promise.reject(new TypeError('undefined is not a function'));
    if (name === 'down') return Promise.reject(Object.assign(new Error('source cluster unreachable'), { httpStatus: 503 }));
    return Promise.resolve(operation(action, name, options));
  }

  #batch(method: string, name: string, options: WriteOptions, action: OperationResult['action']): Promise<OperationResult> {
    // Like the real control plane: an unknown batch throws synchronously, before any promise exists.
    if (!['wave-1', 'wave-2', 'busy', 'slow', 'boom', 'down'].includes(name)) throw new NotFoundError(`unknown batch "${name}"; the config declares wave-1, wave-2`);
    return this.#write(method, name, options, action);
  }

  flipBatch(name: string, options: WriteOptions) {
    return this.#batch('flipBatch', name, options, 'flip');
  }
  rollbackBatch(name: string, options: WriteOptions) {
    return this.#batch('rollbackBatch', name, options, 'rollback');
  }
  promoteBatch(name: string, options: WriteOptions) {
    return this.#batch('promoteBatch', name, options, 'promote');
  }
  flipTopic(topic: string, options: WriteOptions) {
    return this.#write('flipTopic', topic, options, 'flip');
  }
  rollbackTopic(topic: string, options: WriteOptions) {
    return this.#write('rollbackTopic', topic, options, 'rollback');
  }
  rollbackAll(options: WriteOptions) {
    return this.#write('rollbackAll', null, options, 'rollback-all');
  }
}

const logLines: string[] = [];
const logger = createLogger({ pretty: false, level: 'debug', destination: { write: (line: string) => void logLines.push(line) } });
const registry = new client.Registry();
new client.Counter({ name: 'kmp_test_total', help: 'a test counter', registers: [registry] }).inc(3);

let ready = false;
const fake = new FakeControlPlane();
let server: AdminServer;

function options(overrides: Partial<AdminServerOptions> = {}): AdminServerOptions {
  return {
    listen: '127.0.0.1:0',
    tokens: TOKENS,
    controlPlane: fake,
    status: () => ({ connections: 2, heldRequests: 0 }),
    ready: () => ready,
    registry,
    logger,
    ...overrides,
  };
}

before(async () => {
  server = await startAdminServer(options());
});
after(async () => {
  await server.close();
});

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
  readonly headers: Headers;
}

async function call(method: string, path: string, init: { token?: string; body?: string; json?: unknown; contentType?: string | null } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
  if (method === 'POST' && init.contentType !== null) headers['content-type'] = init.contentType ?? 'application/json';
  const res = await fetch(`${server.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

function errorOf(reply: Reply): { code: string; message: string; details?: string[]; result?: unknown } {
  return (reply.body as { error: { code: string; message: string; details?: string[]; result?: unknown } }).error;
}

test('/healthz and /readyz are open; readiness follows the callback', async () => {
  assert.equal((await call('GET', '/healthz')).status, 200);
  ready = false;
  const notReady = await call('GET', '/readyz');
  assert.deepEqual([notReady.status, notReady.body], [503, { ready: false }]);
  ready = true;
  const isReady = await call('GET', '/readyz');
  assert.deepEqual([isReady.status, isReady.body], [200, { ready: true }]);
});

test('401 without a valid token, on every /v1 path and /metrics (known or not)', async () => {
  for (const [method, path] of [
    ['GET', '/v1/routes'],
    ['GET', '/v1/status'],
    ['POST', '/v1/batches/wave-1/flip'],
    ['GET', '/v1/nope'],
    ['GET', '/metrics'],
  ] as const) {
    const reply = await call(method, path);
    assert.equal(reply.status, 401, `${method} ${path}`);
    assert.equal(errorOf(reply).code, 'UNAUTHORIZED');
    assert.equal(reply.headers.get('www-authenticate'), 'Bearer realm="kmp"');
  }
  assert.equal((await call('GET', '/v1/routes', { token: 'wrong-token-0123456789abcdef' })).status, 401);
  assert.equal((await call('GET', '/v1/routes', { token: OPS_TOKEN.slice(0, -1) })).status, 401, 'a prefix is not the token');
  assert.equal(fake.calls.length, 0, 'nothing reached the control plane');
});

test('reads: routes, resolve, status, audit, ledger (offsets as strings)', async () => {
  const routes = await call('GET', '/v1/routes', { token: VIEWER_TOKEN });
  assert.equal(routes.status, 200);
  assert.deepEqual(routes.body, ROUTES);
  assert.equal(routes.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(routes.headers.get('access-control-allow-origin'), null, 'no CORS');

  const resolved = await call('GET', '/v1/routes/resolve?topic=orders', { token: VIEWER_TOKEN });
  assert.deepEqual((resolved.body as { cluster: string; topic: string }).topic, 'orders');
  const missing = await call('GET', '/v1/routes/resolve', { token: VIEWER_TOKEN });
  assert.equal(missing.status, 400);
  assert.match(errorOf(missing).message, /^topic: /);

  assert.deepEqual((await call('GET', '/v1/status', { token: VIEWER_TOKEN })).body, { connections: 2, heldRequests: 0 });

  const audit = await call('GET', '/v1/audit?limit=2', { token: VIEWER_TOKEN });
  const page = audit.body as { total: number; entries: { seq: number }[] };
  assert.equal(page.total, 3);
  assert.deepEqual(page.entries.map((e) => e.seq), [2, 3], 'the newest entries');
  assert.equal((await call('GET', '/v1/audit?limit=0', { token: VIEWER_TOKEN })).status, 400);

  const ledger = await call('GET', '/v1/ledger?topic=payments', { token: VIEWER_TOKEN });
  const entries = (ledger.body as { entries: { topic: string; lastOffsetOnOld: string }[] }).entries;
  assert.deepEqual(entries.map((e) => e.topic), ['payments']);
  assert.equal(entries[0].lastOffsetOnOld, '9007199254740993');
});

test('403 for a viewer calling a write', async () => {
  const reply = await call('POST', '/v1/batches/wave-1/flip', { token: VIEWER_TOKEN, json: {} });
  assert.equal(reply.status, 403);
  assert.equal(errorOf(reply).code, 'FORBIDDEN');
  assert.match(errorOf(reply).message, /role viewer/);
  assert.equal(fake.calls.length, 0);
});

test('a write: who is the token name, reason/dryRun/force forwarded, bigint offsets as strings', async () => {
  fake.calls.length = 0;
  const reply = await call('POST', '/v1/batches/wave-1/flip', { token: OPS_TOKEN, json: { reason: 'wave 1 go', dryRun: true, force: true } });
  assert.equal(reply.status, 200, reply.text);
  assert.deepEqual(fake.calls, [{ method: 'flipBatch', name: 'wave-1', options: { who: 'ops-alice', reason: 'wave 1 go', dryRun: true, force: true } }]);
  assert.equal((reply.body as { dryRun: boolean }).dryRun, true);

  const real = await call('POST', '/v1/batches/wave-1/flip', { token: OPS_TOKEN, body: '' });
  assert.equal(real.status, 200, real.text);
  assert.deepEqual(fake.calls[1].options, { who: 'ops-alice', dryRun: false, force: false }, 'an empty body means the defaults');
  const body = real.body as { version: number; timings: { holdMs: number }; ledger: { lastOffsetOnOld: string }[] };
  assert.equal(body.version, 5);
  assert.equal(body.timings.holdMs, 3);
  assert.equal(body.ledger[0].lastOffsetOnOld, '9007199254740993');
});

test('every write endpoint reaches its operation, names URL-decoded', async () => {
  fake.calls.length = 0;
  for (const path of [
    '/v1/batches/wave-1/rollback',
    '/v1/batches/wave-2/promote',
    '/v1/topics/billing.eu%2Dinvoices/flip',
    '/v1/topics/orders/rollback',
    '/v1/rollback-all',
  ]) {
    const reply = await call('POST', path, { token: OPS_TOKEN, json: { reason: 'test' } });
    assert.equal(reply.status, 200, `${path}: ${reply.text}`);
  }
  assert.deepEqual(
    fake.calls.map((c) => [c.method, c.name, c.options.who]),
    [
      ['rollbackBatch', 'wave-1', 'ops-alice'],
      ['promoteBatch', 'wave-2', 'ops-alice'],
      ['flipTopic', 'billing.eu-invoices', 'ops-alice'],
      ['rollbackTopic', 'orders', 'ops-alice'],
      ['rollbackAll', null, 'ops-alice'],
    ],
  );
});

test('400: bad JSON and bad fields, with the validation message', async () => {
  const badJson = await call('POST', '/v1/batches/wave-1/flip', { token: OPS_TOKEN, body: '{"reason": ' });
  assert.equal(badJson.status, 400);
  assert.match(errorOf(badJson).message, /^body is not valid JSON/);

  const badField = await call('POST', '/v1/batches/wave-1/flip', { token: OPS_TOKEN, json: { dryRun: 'yes' } });
  assert.equal(badField.status, 400);
  assert.match(errorOf(badField).message, /^dryRun: Invalid input: expected boolean, received string/);

  const unknownField = await call('POST', '/v1/batches/wave-1/flip', { token: OPS_TOKEN, json: { dryrun: true } });
  assert.equal(unknownField.status, 400);
  assert.match(errorOf(unknownField).message, /Unrecognized key: "dryrun"/);

  const notObject = await call('POST', '/v1/batches/wave-1/flip', { token: OPS_TOKEN, json: [1] });
  assert.equal(notObject.status, 400);
});

test('415 without Content-Type: application/json (cross-site form posts)', async () => {
  const none = await call('POST', '/v1/rollback-all', { token: OPS_TOKEN, contentType: null });
  assert.equal(none.status, 415);
  const form = await call('POST', '/v1/rollback-all', { token: OPS_TOKEN, body: 'reason=x', contentType: 'application/x-www-form-urlencoded' });
  assert.equal(form.status, 415);
});

test('413 for a body over 64 KiB', async () => {
  const reply = await call('POST', '/v1/batches/wave-1/flip', { token: OPS_TOKEN, json: { reason: 'x'.repeat(70 * 1024) } });
  assert.equal(reply.status, 413);
  assert.equal(errorOf(reply).code, 'PAYLOAD_TOO_LARGE');
});

test('413 also when the body is streamed without a length', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const url = new URL(`${server.url}/v1/batches/wave-1/flip`);
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${OPS_TOKEN}`, 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    for (let i = 0; i < 80; i++) req.write(Buffer.alloc(1024, 0x20));
    req.end();
  });
  assert.equal(status, 413);
});

test('404 unknown batch (thrown synchronously) and unknown endpoint; 405 wrong method', async () => {
  const unknown = await call('POST', '/v1/batches/wave-9/flip', { token: OPS_TOKEN, json: {} });
  assert.equal(unknown.status, 404);
  assert.deepEqual(errorOf(unknown), { code: 'NOT_FOUND', message: 'unknown batch "wave-9"; the config declares wave-1, wave-2' });

  const endpoint = await call('GET', '/v1/batches', { token: OPS_TOKEN });
  assert.equal(endpoint.status, 404);

  const method = await call('GET', '/v1/batches/wave-1/flip', { token: OPS_TOKEN });
  assert.equal(method.status, 405);
  assert.equal(method.headers.get('allow'), 'POST');
  const postRead = await call('POST', '/v1/routes', { token: OPS_TOKEN, json: {} });
  assert.equal(postRead.status, 405);
  assert.equal(postRead.headers.get('allow'), 'GET');
});

test('409 conflict passes through with its details; 503 for aborted moves and httpStatus errors; 500 for bugs', async () => {
  const conflict = await call('POST', '/v1/batches/busy/flip', { token: OPS_TOKEN, json: {} });
  assert.equal(conflict.status, 409);
  assert.equal(errorOf(conflict).code, 'ROUTE_CONFLICT');
  assert.match(errorOf(conflict).message, /conflicts with/);
  assert.deepEqual(errorOf(conflict).details, ['running: busy']);

  const aborted = await call('POST', '/v1/batches/slow/flip', { token: OPS_TOKEN, json: {} });
  assert.equal(aborted.status, 503);
  assert.equal(errorOf(aborted).code, 'FLIP_ABORTED');
  assert.deepEqual(errorOf(aborted).result, { outcome: 'aborted', heldRequests: 7 });

  const down = await call('POST', '/v1/batches/down/flip', { token: OPS_TOKEN, json: {} });
  assert.equal(down.status, 503);
  assert.deepEqual(errorOf(down), { code: 'UNAVAILABLE', message: 'source cluster unreachable' });

  logLines.length = 0;
  const bug = await call('POST', '/v1/batches/boom/flip', { token: OPS_TOKEN, json: {} });
  assert.equal(bug.status, 500);
  assert.deepEqual(errorOf(bug), { code: 'INTERNAL', message: 'internal error: undefined is not a function' });
  assert.ok(logLines.some((l) => l.includes('"admin request failed"') && l.includes('undefined is not a function')), 'a log line');
});

test('/metrics: Prometheus text for a viewer', async () => {
  const reply = await call('GET', '/metrics', { token: VIEWER_TOKEN });
  assert.equal(reply.status, 200);
  assert.match(reply.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(reply.text, /^kmp_test_total 3$/m);
});

test('tokens never reach the log', async () => {
  await call('POST', '/v1/batches/wave-1/flip', { token: OPS_TOKEN, json: { reason: 'log check' } });
  await call('GET', '/v1/routes', { token: VIEWER_TOKEN.replace('viewer', 'viewer-wrong') });
  const all = logLines.join('');
  assert.ok(all.includes('"who":"ops-alice"'), 'writes are logged with who');
  assert.ok(!all.includes(OPS_TOKEN) && !all.includes(VIEWER_TOKEN), 'no token in the log');
});

test('without tokens: loopback only, anonymous writes, loopback Host header only', async () => {
  await assert.rejects(startAdminServer(options({ tokens: [], listen: '0.0.0.0:0' })), /no admin\.tokens are configured.*loopback/);
  await assert.rejects(startAdminServer(options({ tokens: [], listen: 'admin.example.com:0' })), /loopback/);
  logLines.length = 0;
  const open = await startAdminServer(options({ tokens: [] }));
  try {
    assert.ok(logLines.some((l) => l.includes('admin API has no tokens')), 'a warning is logged');
    fake.calls.length = 0;
    const res = await fetch(`${open.url}/v1/rollback-all`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 200);
    assert.equal(fake.calls[0].options.who, 'anonymous-loopback');
    assert.equal((await fetch(`${open.url}/metrics`)).status, 200);

    // A DNS-rebinding page reaches 127.0.0.1 under its own name.
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: open.port, path: '/v1/routes', headers: { host: 'evil.example.com' } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebound, 403);
  } finally {
    await open.close();
  }
});

test('isLoopbackHost', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1', 'localhost.example.com']) assert.equal(isLoopbackHost(h), false, h);
});

test('with the real control plane: dry run, flip, audit records the token name', async () => {
  const cp = await createControlPlane({ rules: { default: 'source', batches: { 'wave-1': { topics: ['orders'] } } }, store: new MemoryStateStore() });
  const real = await startAdminServer(options({ controlPlane: cp }));
  try {
    const post = (path: string, body: unknown) =>
      fetch(`${real.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${OPS_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const dry = await post('/v1/batches/wave-1/flip', { dryRun: true });
    assert.equal(dry.status, 200);
    assert.equal(((await dry.json()) as { outcome: string }).outcome, 'planned');
    const flip = await post('/v1/batches/wave-1/flip', { reason: 'go' });
    assert.equal(flip.status, 200);
    assert.equal(((await flip.json()) as { version: number }).version, 1);
    const again = await post('/v1/batches/wave-1/flip', {});
    assert.equal(again.status, 409);
    const unknown = await post('/v1/batches/nope/flip', {});
    assert.equal(unknown.status, 404);
    const badTopic = await fetch(`${real.url}/v1/routes/resolve?topic=${encodeURIComponent('bad topic')}`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    assert.equal(badTopic.status, 400);
    const audit = (await (await fetch(`${real.url}/v1/audit`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } })).json()) as {
      entries: { who: string; outcome: string; reason: string }[];
    };
    assert.deepEqual(
      audit.entries.map((e) => [e.who, e.outcome, e.reason]),
      [
        ['ops-alice', 'ok', 'go'],
        ['ops-alice', 'refused', ''],
      ],
    );
  } finally {
    await real.close();
    await cp.close();
  }
});

test('/v1/inventory: 404 when the program passes none; the topics (filtered by ?topic=) when it does', async () => {
  const absent = await call('GET', '/v1/inventory', { token: VIEWER_TOKEN });
  assert.equal(absent.status, 404);

  const producer = {
    clientId: 'billing-svc',
    software: { name: 'apache-kafka-java', version: '3.9.0' },
    principal: null,
    remoteAddresses: ['10.0.0.7'],
    producerIds: ['4001'],
    idempotent: true,
    transactional: false,
    compressions: ['zstd'],
    clusters: ['source' as const],
    records: 10,
    bytes: 1000,
    recordsPerSec: 2.5,
    bytesPerSec: 250,
    firstSeen: '2026-01-01T00:00:00.000Z',
    lastSeen: '2026-01-01T00:01:00.000Z',
  };
  const topics = [
    { topic: 'orders', producers: [producer], schemaIds: [{ id: 7, samples: 3 }], nonSchemaSamples: 0 },
    { topic: 'payments', producers: [], schemaIds: [], nonSchemaSamples: 0 },
  ];
  const withInventory = await startAdminServer(options({ inventory: () => topics }));
  try {
    const all = await fetch(`${withInventory.url}/v1/inventory`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    assert.deepEqual(await all.json(), { topics });
    const one = await fetch(`${withInventory.url}/v1/inventory?topic=payments`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    assert.deepEqual(((await one.json()) as { topics: { topic: string }[] }).topics.map((t) => t.topic), ['payments']);
    assert.equal((await fetch(`${withInventory.url}/v1/inventory`)).status, 401);
  } finally {
    await withInventory.close();
  }
});
