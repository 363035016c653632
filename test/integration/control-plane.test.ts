// The admin API's control plane against the real proxy (`kmp serve`) and the Kafka pair:
// - a flip towards an unreachable target is refused with an actionable 503, the route stays on the source and a
//   producer writing meanwhile sees no error (target refusing connections, then accepting and never answering);
// - a restart with the same state file restores routes, audit and ledger, and writes keep going to the target;
// - admin auth: 401 without a token, 403 for a viewer's write, 400 for bad bodies, 404 for an unknown batch,
//   an operator's flip is audited under the token's name;
// - pre-flight: a partition-count mismatch is refused with 409 and the reason, dryRun shows the plan and changes
//   nothing, force flips and the audit records it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ensureKafkaPair, kafkaFor, createTopic, createTopics, readTopic, uniqueTopic, bootstrapOf } from '../support/kafka.ts';
import { freePort, startProxy, type RunningProxy } from '../support/proxy.ts';
import { RecordingRelay } from '../../scripts/capture/recording-relay.ts';

type Json = Record<string, any>;

interface Answer {
  status: number;
  json: Json;
}

async function call(proxy: RunningProxy, method: 'GET' | 'POST', path: string, opts: { body?: unknown; raw?: string; token?: string; contentType?: string | null } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (method === 'POST' && opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${proxy.adminUrl}${path}`, {
    method,
    headers,
    body: method === 'POST' ? (opts.raw ?? JSON.stringify(opts.body ?? {})) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Json) };
}

/** A kafkajs idempotent producer that writes `topic` without pause until stop(); counts acks and errors. */
function keepProducing(bootstrap: string, topic: string) {
  const producer = kafkaFor(bootstrap, `kmp-it-cp-${topic}`).producer({ idempotent: true, maxInFlightRequests: 1 });
  const acked: string[] = [];
  const errors: string[] = [];
  let stop = false;
  const started = producer.connect();
  const loop = (async () => {
    await started;
    for (let i = 0; !stop; i++) {
      const messages = Array.from({ length: 5 }, (_, j) => ({ key: `k${(i * 5 + j) % 7}`, value: `v${i * 5 + j}` }));
      try {
        await producer.send({ topic, acks: -1, messages });
        acked.push(...messages.map((m) => m.value));
      } catch (err) {
        errors.push(String(err));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    acked,
    errors,
    started,
    async stop() {
      stop = true;
      await loop;
      await producer.disconnect();
    },
  };
}

async function produceSome(bootstrap: string, topic: string, values: string[]): Promise<void> {
  const producer = kafkaFor(bootstrap, 'kmp-it-cp-some').producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < values.length; i += 10) {
      await producer.send({ topic, acks: -1, messages: values.slice(i, i + 10).map((v, j) => ({ key: `k${(i + j) % 5}`, value: v })) });
    }
  } finally {
    await producer.disconnect();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a flip towards an unreachable target is refused with an actionable 503; the route and the producers are unaffected', async (t) => {
  await ensureKafkaPair();
  const topic = uniqueTopic('cp-unreach');
  await Promise.all([createTopic('source', topic, 3), createTopic('target', topic, 3)]);
  // The target is reached through a relay (which also rewrites the brokers in Metadata to itself), so the test can
  // make the target unreachable after the proxy has started, instead of waiting out the proxy's start-up wait.
  const [host, port] = bootstrapOf('target').split(':');
  const relay = new RecordingRelay(host, Number(port));
  const relayPort = await relay.listen();
  let blackHole: net.Server | null = null;
  const held = new Set<net.Socket>();
  const proxy = await startProxy({
    routes: { default: 'source', batches: { 'wave-x': { topics: [topic] } } },
    extra: {
      clusters: {
        source: { bootstrap: [bootstrapOf('source')] },
        target: { bootstrap: [`127.0.0.1:${relayPort}`], requestTimeoutMs: 3_000 },
      },
    },
  });
  const producer = keepProducing(proxy.bootstrap, topic);
  try {
    await producer.started;
    await sleep(300);

    // 1. Nothing listens on the target's address: connections are refused.
    await relay.close();
    const refused = await call(proxy, 'POST', '/v1/batches/wave-x/flip', { body: { reason: 'target down' } });
    t.diagnostic(`connection refused: HTTP ${refused.status} ${JSON.stringify(refused.json)}`);

    // 2. The address accepts connections but never answers: requests time out (clusters.target.requestTimeoutMs).
    blackHole = net.createServer((s) => {
      held.add(s);
      s.on('error', () => {});
      s.on('close', () => held.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      blackHole!.once('error', reject);
      blackHole!.listen(relayPort, '127.0.0.1', () => resolve());
    });
    await sleep(2_100); // let the proxy's reconnect back-off from step 1 run out
    const started = Date.now();
    const silent = await call(proxy, 'POST', '/v1/batches/wave-x/flip', { body: { reason: 'target silent' } });
    t.diagnostic(`no answer: HTTP ${silent.status} after ${Date.now() - started} ms: ${JSON.stringify(silent.json)}`);

    for (const [label, res] of [['refused', refused], ['silent', silent]] as const) {
      assert.equal(res.status, 503, `${label}: 503 (cluster unreachable): ${JSON.stringify(res.json)}`);
      const message = String(res.json.error?.message ?? '');
      assert.match(message, /flip of batch "wave-x"/, `${label}: the message names the operation`);
      assert.match(message, /pre-flight/, `${label}: the message says what could not run`);
      assert.match(message, /target cluster unreachable/, `${label}: the message names the unreachable cluster`);
      assert.ok(message.includes(`127.0.0.1:${relayPort}`), `${label}: and its address`);
    }
    assert.match(String(refused.json.error.message), /ECONNREFUSED/, 'refused: says why');
    assert.match(String(silent.json.error.message), /timed out after 3000 ms/, 'silent: says why');

    const routes = await call(proxy, 'GET', '/v1/routes');
    const batch = routes.json.batches.find((b: Json) => b.name === 'wave-x');
    assert.equal(batch.cluster, 'source', 'the batch stays on the source');
    assert.equal(routes.json.version, 0, 'no new table version');
    const resolved = await call(proxy, 'GET', `/v1/routes/resolve?topic=${topic}`);
    assert.equal(resolved.json.cluster, 'source');
    const audit = await call(proxy, 'GET', '/v1/audit');
    assert.deepEqual(audit.json.entries.map((e: Json) => e.outcome), ['refused', 'refused'], 'both attempts are audited as refused');
    assert.ok(audit.json.entries.every((e: Json) => typeof e.details.error === 'string' && e.details.error.includes('pre-flight')));
    const ledger = await call(proxy, 'GET', '/v1/ledger');
    assert.equal(ledger.json.total, 0, 'no ledger entries');

    await sleep(300);
  } finally {
    await producer.stop();
    await proxy.stop();
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => (blackHole ? blackHole.close(() => resolve()) : resolve()));
  }
  assert.deepEqual(producer.errors, [], 'the producer saw no error');
  assert.ok(producer.acked.length > 0);
  const [src, tgt] = await Promise.all([readTopic('source', topic), readTopic('target', topic)]);
  assert.equal(tgt.length, 0, 'nothing reached the target');
  assert.deepEqual(new Set(src.map((r) => r.value)), new Set(producer.acked), 'every acknowledged record is on the source');
  assert.equal(src.length, producer.acked.length, 'once');
});

test('a restart with the same state file restores routes, audit and ledger; writes still go to the target', async (t) => {
  await ensureKafkaPair();
  const moved = uniqueTopic('cp-restart');
  const stays = uniqueTopic('cp-restart-stay');
  await Promise.all([createTopics('source', [moved, stays], 3), createTopics('target', [moved, stays], 3)]);
  const routes = { default: 'source' as const, batches: { 'wave-r': { topics: [moved] }, 'wave-s': { topics: [stays] } } };
  const first = await startProxy({ routes });
  // A producer session that lives across the restart: after it, its batches need upstream producer ids again.
  const survivor = kafkaFor(first.bootstrap, 'kmp-it-cp-survivor').producer({ idempotent: true, maxInFlightRequests: 1 });
  await survivor.connect();
  let before: { routes: Json; audit: Json; ledger: Json };
  try {
    await survivor.send({ topic: moved, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ key: `s${i % 3}`, value: `survivor-before-${i}` })) });
    await produceSome(first.bootstrap, moved, Array.from({ length: 30 }, (_, i) => `before-${i}`));
    const flip = await call(first, 'POST', '/v1/batches/wave-r/flip', { body: { reason: 'restart test' } });
    assert.equal(flip.status, 200, JSON.stringify(flip.json));
    await produceSome(first.bootstrap, moved, Array.from({ length: 30 }, (_, i) => `after-flip-${i}`));
    await survivor.send({ topic: moved, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ key: `s${i % 3}`, value: `survivor-flip-${i}` })) });
    await sleep(400); // the ledger's first offsets are saved with a short delay; shutdown flushes them anyway
    before = {
      routes: (await call(first, 'GET', '/v1/routes')).json,
      audit: (await call(first, 'GET', '/v1/audit')).json,
      ledger: (await call(first, 'GET', '/v1/ledger')).json,
    };
  } finally {
    const code = await first.stop('SIGTERM');
    t.diagnostic(`first proxy exited with ${code}`);
  }
  assert.equal(before.routes.version, 1);
  assert.equal(before.ledger.total, 3, 'one ledger entry per partition');
  assert.ok(before.ledger.entries.some((e: Json) => e.firstOffsetOnNew !== null), 'the ledger knows first offsets on the target');

  const second = await startProxy({ routes, stateDir: first.stateDir, port: first.port, adminPort: first.adminPort });
  try {
    const after = {
      routes: (await call(second, 'GET', '/v1/routes')).json,
      audit: (await call(second, 'GET', '/v1/audit')).json,
      ledger: (await call(second, 'GET', '/v1/ledger')).json,
    };
    assert.deepEqual(after.routes, before.routes, 'GET /v1/routes is as before');
    assert.deepEqual(after.audit, before.audit, 'GET /v1/audit is as before');
    assert.deepEqual(after.ledger, before.ledger, 'GET /v1/ledger is as before');
    assert.equal((await call(second, 'GET', `/v1/routes/resolve?topic=${moved}`)).json.cluster, 'target');

    // A new producer session after the restart: its writes go to the target, in order after the earlier ones.
    await produceSome(second.bootstrap, moved, Array.from({ length: 30 }, (_, i) => `after-restart-${i}`));
    await produceSome(second.bootstrap, stays, Array.from({ length: 10 }, (_, i) => `stay-${i}`));
    // kafkajs reconnects to the same address; the restarted proxy maps its producer id afresh.
    await survivor.send({ topic: moved, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ key: `s${i % 3}`, value: `survivor-restart-${i}` })) });
  } finally {
    await survivor.disconnect();
    await second.stop();
  }
  const [src, tgt, stSrc, stTgt] = await Promise.all([readTopic('source', moved), readTopic('target', moved), readTopic('source', stays), readTopic('target', stays)]);
  const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  assert.deepEqual(src.map((r) => r.value).sort(), [...range('before-', 30), ...range('survivor-before-', 10)].sort(), 'only the pre-flip writes are on the source');
  const tgtValues = tgt.map((r) => r.value ?? '');
  assert.deepEqual(
    [...tgtValues].sort(),
    [...range('after-flip-', 30), ...range('survivor-flip-', 10), ...range('after-restart-', 30), ...range('survivor-restart-', 10)].sort(),
    'the target has the writes from after the flip and after the restart, once each',
  );
  for (let p = 0; p < 3; p++) {
    const inPartition = tgt.filter((r) => r.partition === p).map((r) => r.value ?? '');
    const firstRestart = inPartition.findIndex((v) => /restart-/.test(v));
    if (firstRestart >= 0) assert.ok(inPartition.slice(firstRestart).every((v) => /restart-/.test(v)), `partition ${p}: restart writes come after the flip writes`);
  }
  assert.equal(stSrc.length, 10, 'the batch that was not flipped still writes to the source');
  assert.equal(stTgt.length, 0);
});

test('admin auth: tokens and roles, body validation, unknown batch; the audit names the operator token', async () => {
  await ensureKafkaPair();
  const topic = uniqueTopic('cp-auth');
  await Promise.all([createTopic('source', topic, 2), createTopic('target', topic, 2)]);
  const viewer = 'viewer-token-0123456789abcdef';
  const operator = 'operator-token-0123456789abcdef';
  const adminPort = await freePort();
  const proxy = await startProxy({
    adminPort,
    routes: { default: 'source', batches: { 'wave-a': { topics: [topic] } } },
    extra: { admin: { listen: `127.0.0.1:${adminPort}`, tokens: [{ name: 'alice-viewer', token: viewer, role: 'viewer' }, { name: 'bob-operator', token: operator, role: 'operator' }] } },
  });
  try {
    // Reads need a token; /healthz and /readyz stay open for probes.
    for (const path of ['/v1/routes', '/v1/audit', '/v1/ledger', '/v1/status', '/metrics']) {
      const res = await call(proxy, 'GET', path);
      assert.equal(res.status, 401, `${path} without a token`);
      assert.match(res.json.error.message, /bearer token/i);
    }
    assert.equal((await call(proxy, 'GET', '/v1/routes', { token: 'not-a-valid-token-at-all' })).status, 401, 'an unknown token');
    assert.equal((await call(proxy, 'GET', '/healthz')).status, 200);
    assert.equal((await call(proxy, 'POST', '/v1/batches/wave-a/flip', { body: {} })).status, 401, 'a write without a token');

    // A viewer reads, but cannot write.
    assert.equal((await call(proxy, 'GET', '/v1/routes', { token: viewer })).status, 200);
    const denied = await call(proxy, 'POST', '/v1/batches/wave-a/flip', { token: viewer, body: { reason: 'viewer tries' } });
    assert.equal(denied.status, 403);
    assert.match(denied.json.error.message, /alice-viewer.*viewer.*operator/);

    // Bad bodies: 400 with a message that names the problem; nothing happens.
    const badJson = await call(proxy, 'POST', '/v1/batches/wave-a/flip', { token: operator, raw: '{"reason": "oops",' });
    assert.equal(badJson.status, 400);
    assert.match(badJson.json.error.message, /not valid JSON/);
    const unknownField = await call(proxy, 'POST', '/v1/batches/wave-a/flip', { token: operator, body: { reason: 'typo', dryrun: true } });
    assert.equal(unknownField.status, 400);
    assert.match(unknownField.json.error.message, /dryrun/);
    const wrongType = await call(proxy, 'POST', '/v1/batches/wave-a/flip', { token: operator, body: { force: 'yes' } });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.json.error.message, /force/);
    assert.match(wrongType.json.error.message, /boolean/);
    const noType = await call(proxy, 'POST', '/v1/batches/wave-a/flip', { token: operator, contentType: null, raw: '{}' });
    assert.equal(noType.status, 415, 'a write without Content-Type: application/json');

    const unknownBatch = await call(proxy, 'POST', '/v1/batches/no-such-wave/flip', { token: operator, body: {} });
    assert.equal(unknownBatch.status, 404);
    assert.match(unknownBatch.json.error.message, /unknown batch "no-such-wave".*wave-a/);

    const routesBefore = await call(proxy, 'GET', '/v1/routes', { token: viewer });
    assert.equal(routesBefore.json.version, 0, 'none of the refused writes changed anything');
    assert.equal((await call(proxy, 'GET', '/v1/audit', { token: viewer })).json.total, 0, 'requests refused before the control plane are not audited');

    // The operator flips; the audit says who.
    const flip = await call(proxy, 'POST', '/v1/batches/wave-a/flip', { token: operator, body: { reason: 'auth test' } });
    assert.equal(flip.status, 200, JSON.stringify(flip.json));
    assert.equal(flip.json.version, 1);
    const audit = await call(proxy, 'GET', '/v1/audit', { token: viewer });
    assert.equal(audit.status, 200);
    const last = audit.json.entries.at(-1);
    assert.equal(last.who, 'bob-operator');
    assert.equal(last.action, 'flip');
    assert.equal(last.outcome, 'ok');
    assert.equal(last.reason, 'auth test');
    assert.deepEqual(last.target, { kind: 'batch', name: 'wave-a' });
    assert.equal((await call(proxy, 'GET', `/v1/routes/resolve?topic=${topic}`, { token: viewer })).json.cluster, 'target');
  } finally {
    await proxy.stop();
  }
});

test('pre-flight: a partition-count mismatch is refused with 409; dryRun changes nothing; force flips and is audited', async () => {
  await ensureKafkaPair();
  const topic = uniqueTopic('cp-preflight');
  await Promise.all([createTopic('source', topic, 3), createTopic('target', topic, 2)]);
  const proxy = await startProxy({ routes: { default: 'source', batches: { 'wave-p': { topics: [topic] } } } });
  try {
    await produceSome(proxy.bootstrap, topic, Array.from({ length: 9 }, (_, i) => `pre-${i}`));
    const refused = await call(proxy, 'POST', '/v1/batches/wave-p/flip', { body: { reason: 'mismatch' } });
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    const reason = `${topic}: 3 partitions on source, 2 on target`;
    assert.ok(String(refused.json.error.message).includes(reason), `the message gives the reason: ${refused.json.error.message}`);
    assert.match(refused.json.error.message, /force/, 'the message says how to override');
    assert.ok((refused.json.error.details as string[]).some((d) => d.includes(reason)), 'details list the refusal');
    assert.equal((await call(proxy, 'GET', `/v1/routes/resolve?topic=${topic}`)).json.cluster, 'source');

    const auditAfterRefusal = (await call(proxy, 'GET', '/v1/audit')).json;
    assert.equal(auditAfterRefusal.total, 1);
    assert.equal(auditAfterRefusal.entries[0].outcome, 'refused');
    assert.ok(auditAfterRefusal.entries[0].details.refusals.some((r: string) => r.includes(reason)));

    const routesBefore = (await call(proxy, 'GET', '/v1/routes')).json;
    const dry = await call(proxy, 'POST', '/v1/batches/wave-p/flip', { body: { reason: 'what if', dryRun: true } });
    assert.equal(dry.status, 200, JSON.stringify(dry.json));
    assert.equal(dry.json.dryRun, true);
    assert.equal(dry.json.outcome, 'planned');
    assert.equal(dry.json.version, routesBefore.version, 'dry run: the version does not change');
    assert.deepEqual(dry.json.changes, [{ kind: 'batch', name: 'wave-p', before: 'source', after: 'target' }]);
    assert.deepEqual(dry.json.move, { from: 'source', to: 'target', topics: [topic] });
    assert.ok(dry.json.refusals.some((r: string) => r.includes(reason)), 'dry run lists what would be refused');
    assert.equal(dry.json.timings, null);
    assert.deepEqual((await call(proxy, 'GET', '/v1/routes')).json, routesBefore, 'dry run: routes unchanged');
    assert.deepEqual((await call(proxy, 'GET', '/v1/audit')).json, auditAfterRefusal, 'dry run: nothing audited');
    assert.equal((await call(proxy, 'GET', '/v1/ledger')).json.total, 0, 'dry run: no ledger entries');

    const forced = await call(proxy, 'POST', '/v1/batches/wave-p/flip', { body: { reason: 'we know', force: true } });
    assert.equal(forced.status, 200, JSON.stringify(forced.json));
    assert.equal(forced.json.outcome, 'forced');
    assert.equal(forced.json.version, routesBefore.version + 1);
    assert.ok(forced.json.forced.some((f: string) => f.includes(reason)), 'the answer says what was overridden');
    assert.equal((await call(proxy, 'GET', `/v1/routes/resolve?topic=${topic}`)).json.cluster, 'target');
    const audit = (await call(proxy, 'GET', '/v1/audit')).json;
    assert.equal(audit.total, 2);
    const entry = audit.entries.at(-1);
    assert.equal(entry.outcome, 'forced');
    assert.equal(entry.who, 'anonymous-loopback');
    assert.equal(entry.reason, 'we know');
    assert.ok(entry.details.refusals.some((r: string) => r.includes(reason)), 'the audit records the overridden refusal');
  } finally {
    await proxy.stop();
  }
});
