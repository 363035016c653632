// Security end to end, against the real Kafka pair: the *target* is reached only through its SASL_SSL listener
// (SCRAM-SHA-512, the test bed's CA) while the source stays plaintext; producers reach the proxy over TLS with
// SCRAM (a PKI and a credentials file made here).
//
// - kmp's own upstream login (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) is accepted by the real broker.
// - kafkajs, the Java producer and librdkafka over TLS + SCRAM: their records reach both clusters.
// - A wrong password: the client sees an authentication error, nothing is produced.
// - A client that skips SASL (TLS only): nothing is produced, the refusal is counted.
// - mTLS: a client with an untrusted certificate is refused; a trusted one (plus SCRAM) produces.
// - KIP-368: kafkajs re-authenticates on its connection before the session ends.
// - SIGHUP: a new certificate and a new user without dropping open connections.
// - The principal in the inventory and in /metrics.
// - Limits (a second proxy): connections above the per-address and global caps are refused while the existing
//   ones keep working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { ApiKey } from '../../protocol/messages/index.ts';
import { defaultMetadataRequest } from '../../protocol/messages/metadata-request.ts';
import { TARGET_SASL_SSL } from '../../scripts/kafka/testbed.ts';
import { ensureKafkaPair, createTopics, readTopic, uniqueTopic } from '../support/kafka.ts';
import { freePort, startProxy, type RunningProxy } from '../support/proxy.ts';
import { runJavaProducer } from '../support/java-client.ts';
import rdkafka from '@confluentinc/kafka-javascript';
import { produceWithRdkafka } from '../support/rdkafka.ts';
import { RawKafkaClient, API_VERSIONS_V3 } from '../support/raw-kafka-client.ts';
import { createCa, issueCert, type CertFiles, type TestCa } from '../support/tls-certs.ts';
import { credentialsEntryYaml } from '../../src/security/credentials.ts';
import { loadUpstreamTls } from '../../src/security/tls.ts';
import { BrokerConnection } from '../../src/upstream/broker-connection.ts';
import pino from 'pino';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-security-'));
const credentialsFile = path.join(dir, 'users.yaml');
const ALICE = { username: 'alice', password: 'wonderland-42' };
const BOB = { username: 'bob', password: 'builder-42' };
const CLIENTS = ['kafkajs', 'java', 'rdkafka'] as const;
type Client = (typeof CLIENTS)[number];
const topics = Object.fromEntries(CLIENTS.map((c) => [c, { src: uniqueTopic(`sec-${c}-src`), tgt: uniqueTopic(`sec-${c}-tgt`) }])) as Record<Client, { src: string; tgt: string }>;
const refusedTopic = uniqueTopic('sec-refused');
const mtlsTopic = uniqueTopic('sec-mtls');
const reauthTopic = uniqueTopic('sec-reauth');

let ca: TestCa;
let rogueCa: TestCa;
let trustedClient: CertFiles;
let intruder: CertFiles;
let proxy: RunningProxy;
const ports = { plain: 0, saslSsl: 0, mtls: 0, reauth: 0 };
const liveCert = { certFile: path.join(dir, 'live', 'server.pem'), keyFile: path.join(dir, 'live', 'server.key') };

before(async () => {
  await ensureKafkaPair();
  ca = createCa(path.join(dir, 'ca'), 'kmp-proxy-test-ca');
  rogueCa = createCa(path.join(dir, 'rogue'), 'rogue-ca');
  const server = issueCert(path.join(dir, 'ca'), ca, 'server', { kind: 'server', cn: 'localhost' });
  trustedClient = issueCert(path.join(dir, 'ca'), ca, 'app-1', { kind: 'client', cn: 'app-1' });
  intruder = issueCert(path.join(dir, 'rogue'), rogueCa, 'intruder', { kind: 'client', cn: 'intruder' });
  fs.mkdirSync(path.dirname(liveCert.certFile));
  fs.copyFileSync(server.certFile, liveCert.certFile);
  fs.copyFileSync(server.keyFile, liveCert.keyFile);
  fs.writeFileSync(credentialsFile, credentialsEntryYaml(ALICE.username, ALICE.password, ['SCRAM-SHA-512', 'SCRAM-SHA-256']));
  fs.appendFileSync(credentialsFile, credentialsEntryYaml(BOB.username, BOB.password, ['SCRAM-SHA-512']).replace(/^users:\n/, ''));

  const routed = CLIENTS.flatMap((c) => [topics[c].src, topics[c].tgt]);
  await Promise.all([
    createTopics('source', [...CLIENTS.map((c) => topics[c].src), refusedTopic, mtlsTopic, reauthTopic], 2),
    createTopics('target', [...routed, refusedTopic], 2),
  ]);

  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  const tlsCfg = { certFile: liveCert.certFile, keyFile: liveCert.keyFile };
  const sasl = { mechanisms: ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN'], credentialsFile };
  const listener = (name: string, port: number, extra: Record<string, unknown>) => ({ name, listen: `127.0.0.1:${port}`, advertised: `127.0.0.1:${port}`, ...extra });
  proxy = await startProxy({
    port: ports.plain,
    // Default route: the target (over SASL_SSL); the *-src topics stay on the plaintext source.
    routes: { default: 'target', batches: { 'stay-on-source': { topics: [...CLIENTS.map((c) => topics[c].src), mtlsTopic, reauthTopic] } } },
    extra: {
      proxy: {
        listen: `127.0.0.1:${ports.plain}`, advertised: `127.0.0.1:${ports.plain}`, nodeId: 0,
        listeners: [
          listener('sasl-ssl', ports.saslSsl, { tls: tlsCfg, sasl }),
          listener('mtls', ports.mtls, { tls: { ...tlsCfg, clientCaFile: ca.certFile, clientAuth: 'required' }, sasl }),
          listener('reauth', ports.reauth, { tls: tlsCfg, sasl: { ...sasl, sessionLifetimeMs: 3000 } }),
        ],
      },
      clusters: {
        source: { bootstrap: ['127.0.0.1:19092'] },
        target: {
          bootstrap: [TARGET_SASL_SSL.bootstrap],
          tls: { caFile: TARGET_SASL_SSL.caFile },
          sasl: { mechanism: 'SCRAM-SHA-512', username: TARGET_SASL_SSL.username, passwordEnv: 'KMP_TEST_TARGET_PASSWORD' },
        },
      },
    },
    env: { KMP_TEST_TARGET_PASSWORD: TARGET_SASL_SSL.password },
  });
});

after(async () => {
  await proxy?.stop();
});

function kafkajs(port: number, opts: { sasl?: SASLOptions; ssl?: tls.ConnectionOptions | false; retries?: number; reauthenticationThreshold?: number } = {}): Kafka {
  return new Kafka({
    clientId: 'kmp-it-security',
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: opts.retries ?? 5, initialRetryTime: 100 },
    ...(opts.ssl === false ? {} : { ssl: opts.ssl ?? { ca: [ca.cert] } }),
    ...(opts.sasl ? { sasl: opts.sasl } : {}),
    ...(opts.reauthenticationThreshold !== undefined ? { reauthenticationThreshold: opts.reauthenticationThreshold } : {}),
  });
}

const scram512 = (who = ALICE): SASLOptions => ({ mechanism: 'scram-sha-512', username: who.username, password: who.password });

async function metrics(): Promise<string> {
  return (await fetch(`${proxy.adminUrl}/metrics`)).text();
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function recs(c: Client): { topic: string; key: string; value: string }[] {
  return Array.from({ length: 20 }, (_, i) => ({ topic: i % 2 === 0 ? topics[c].src : topics[c].tgt, key: `k${i % 5}`, value: `${c}-${i}` }));
}

async function assertLanded(c: Client): Promise<void> {
  const [src, tgt] = await Promise.all([readTopic('source', topics[c].src), readTopic('target', topics[c].tgt)]);
  const expected = recs(c);
  assert.deepEqual(src.map((r) => r.value).sort(), expected.filter((r) => r.topic === topics[c].src).map((r) => r.value).sort(), `${c}: source records`);
  assert.deepEqual(tgt.map((r) => r.value).sort(), expected.filter((r) => r.topic === topics[c].tgt).map((r) => r.value).sort(), `${c}: target records`);
}

test('the proxy reaches the target over SASL_SSL (SCRAM-SHA-512, verified CA) and the source in plaintext', () => {
  const logs = proxy.logs();
  assert.match(logs, /"cluster":"target","security":"SASL_SSL \(SCRAM-SHA-512 as kmp\)"/);
  assert.match(logs, /"cluster":"source","security":"PLAINTEXT"/);
  assert.match(logs, /"listener":"sasl-ssl".*"security":"SASL_SSL"/);
  assert.match(logs, /"broker":"127\.0\.0\.1:29094".*upstream connection established/);
});

test('kmp\'s upstream login works against the real broker with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; a wrong password is refused', async () => {
  const log = pino({ level: 'silent' });
  const tlsOptions = loadUpstreamTls({ caFile: TARGET_SASL_SSL.caFile, rejectUnauthorized: true, verifyHostname: true }).forHost(TARGET_SASL_SSL.host);
  const connect = (mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', password: string) => new BrokerConnection({
    host: TARGET_SASL_SSL.host, port: TARGET_SASL_SSL.port, clientId: 'kmp-it-security', requestTimeoutMs: 10_000, connectTimeoutMs: 10_000,
    maxFrameBytes: 1 << 20, logger: log, tls: tlsOptions, sasl: { mechanism, username: TARGET_SASL_SSL.username, password },
  });
  for (const mechanism of TARGET_SASL_SSL.mechanisms) {
    const c = connect(mechanism, TARGET_SASL_SSL.password);
    await c.connect();
    const md = (await c.send(ApiKey.Metadata, 12, { ...defaultMetadataRequest(), topics: null, allowAutoTopicCreation: false })) as { brokers: { port: number }[] };
    assert.deepEqual(md.brokers.map((b) => b.port), [TARGET_SASL_SSL.port], `${mechanism}: the SASL_SSL listener answers with itself`);
    c.close();
  }
  await assert.rejects(connect('SCRAM-SHA-512', 'wrong').connect(), /login as "kmp" failed: error 58/);
});

test('kafkajs over TLS + SCRAM-SHA-512: records reach both clusters', async () => {
  const producer = kafkajs(ports.saslSsl, { sasl: scram512() }).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (const r of recs('kafkajs')) await producer.send({ topic: r.topic, acks: -1, messages: [{ key: r.key, value: r.value }] });
  } finally {
    await producer.disconnect();
  }
  await assertLanded('kafkajs');
});

test('Java producer over SASL_SSL (SCRAM-SHA-256, PEM truststore, hostname verification): records reach both clusters', async () => {
  const r = await runJavaProducer({
    bootstrap: `127.0.0.1:${ports.saslSsl}`,
    topic: topics.java.src,
    records: recs('java').map((x) => ({ key: x.key, value: x.value, topic: x.topic })),
    props: {
      'security.protocol': 'SASL_SSL',
      'sasl.mechanism': 'SCRAM-SHA-256',
      'sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username="${ALICE.username}" password="${ALICE.password}";`,
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': ca.certFile,
      'linger.ms': '5',
    },
  });
  assert.equal(r.failed, 0, `${r.deliveries.find((d) => d.error)?.error ?? ''}\n${r.stderr.slice(-3000)}`);
  assert.equal(r.acked, 20, r.stderr.slice(-3000));
  await assertLanded('java');
});

test('librdkafka over SASL_SSL (SCRAM-SHA-512): records reach both clusters', async () => {
  const r = await produceWithRdkafka({
    bootstrap: `127.0.0.1:${ports.saslSsl}`,
    records: recs('rdkafka'),
    config: {
      'security.protocol': 'sasl_ssl',
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': BOB.username,
      'sasl.password': BOB.password,
      'ssl.ca.location': ca.certFile,
    },
  });
  assert.deepEqual(r.deliveries.filter((d) => d.error !== null), [], `client errors: ${r.clientErrors.join('; ')}`);
  await assertLanded('rdkafka');
});

test('wrong password: kafkajs, Java and librdkafka see an authentication error and nothing is produced', async () => {
  const before = metricValue(await metrics(), 'kmp_sasl_authentications_total', { listener: 'sasl-ssl', result: 'failure' });
  const producer = kafkajs(ports.saslSsl, { sasl: scram512({ username: 'alice', password: 'not-it' }), retries: 0 }).producer();
  await assert.rejects(producer.connect(), (err: Error) => err.name === 'KafkaJSSASLAuthenticationError' && /SASL_AUTHENTICATION_FAILED|Authentication failed/.test(err.message));

  const java = await runJavaProducer({
    bootstrap: `127.0.0.1:${ports.saslSsl}`,
    topic: refusedTopic,
    records: [{ key: 'k', value: 'must not land' }],
    props: {
      'security.protocol': 'SASL_SSL',
      'sasl.mechanism': 'SCRAM-SHA-512',
      'sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="not-it";`,
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': ca.certFile,
      'max.block.ms': '10000',
      'delivery.timeout.ms': '10000',
      'request.timeout.ms': '5000',
    },
    timeoutMs: 60_000,
  });
  assert.equal(java.acked, 0);
  assert.match(`${java.stdout}\n${java.stderr}`, /SaslAuthenticationException|Authentication failed/);

  // librdkafka reports the refused login in its log (FAIL) and the connect fails; the JS binding raises no
  // error event for it, so this one is driven directly.
  const rdLog = await new Promise<string[]>((resolve) => {
    const lines: string[] = [];
    const p = new rdkafka.Producer({
      'bootstrap.servers': `127.0.0.1:${ports.saslSsl}`, 'security.protocol': 'sasl_ssl', 'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'alice', 'sasl.password': 'not-it', 'ssl.ca.location': ca.certFile, event_cb: true,
    } as rdkafka.ProducerGlobalConfig);
    p.on('event.log', (e: { fac: string; message: string }) => lines.push(`${e.fac} ${e.message}`));
    p.connect({ timeout: 4000 }, (err) => {
      lines.push(`connect: ${err ? err.message : 'ok'}`);
      resolve(lines);
    });
  });
  assert.ok(rdLog.some((l) => /^FAIL .*SASL authentication error: Authentication failed/.test(l)), rdLog.join('\n'));
  assert.ok(rdLog.some((l) => /^connect: .*failure/.test(l)), rdLog.join('\n'));

  const after = metricValue(await metrics(), 'kmp_sasl_authentications_total', { listener: 'sasl-ssl', result: 'failure' });
  assert.ok(after - before >= 3, `failures counted: ${before} → ${after}`);
  assert.equal((await readTopic('source', refusedTopic)).length + (await readTopic('target', refusedTopic)).length, 0);
});

test('a client that skips SASL (TLS only) gets nothing produced; the refusal is counted', async () => {
  const before = metricValue(await metrics(), 'kmp_refused_connections_total', { reason: 'unauthenticated_request' });
  const producer = kafkajs(ports.saslSsl, { retries: 1 }).producer();
  let failed = false;
  try {
    await producer.connect();
    await producer.send({ topic: refusedTopic, acks: -1, messages: [{ value: 'must not land' }] });
  } catch {
    failed = true;
  } finally {
    await producer.disconnect().catch(() => {});
  }
  assert.equal(failed, true, 'kafkajs without SASL must fail');

  // The same at the wire level: ApiVersions is answered, Metadata closes the connection unanswered.
  const raw = await RawKafkaClient.connect({ port: ports.saslSsl, tls: { ca: ca.cert } });
  assert.equal((await raw.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, API_VERSIONS_V3))?.errorCode, 0);
  assert.equal(await raw.request(ApiKey.Metadata, 4, { ...defaultMetadataRequest(), topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: refusedTopic }], allowAutoTopicCreation: false }), null);
  await raw.closed;

  const after = metricValue(await metrics(), 'kmp_refused_connections_total', { reason: 'unauthenticated_request' });
  assert.ok(after - before >= 2, `refusals counted: ${before} → ${after}`);
  assert.equal((await readTopic('source', refusedTopic)).length + (await readTopic('target', refusedTopic)).length, 0);
});

test('mTLS: an untrusted client certificate is refused; a trusted one with SCRAM produces', async () => {
  const refused = async (options: tls.ConnectionOptions): Promise<boolean> => {
    try {
      const c = await RawKafkaClient.connect({ port: ports.mtls, tls: options });
      return (await c.request(ApiKey.ApiVersions, 3, API_VERSIONS_V3)) === null;
    } catch {
      return true;
    }
  };
  assert.equal(await refused({ ca: ca.cert, cert: intruder.cert, key: intruder.key }), true, 'untrusted certificate');
  assert.equal(await refused({ ca: ca.cert }), true, 'no certificate');
  const bad = kafkajs(ports.mtls, { ssl: { ca: [ca.cert], cert: intruder.cert, key: intruder.key }, sasl: scram512(), retries: 0 }).producer();
  await assert.rejects(bad.connect());

  const good = kafkajs(ports.mtls, { ssl: { ca: [ca.cert], cert: trustedClient.cert, key: trustedClient.key }, sasl: scram512() }).producer({ idempotent: true });
  await good.connect();
  await good.send({ topic: mtlsTopic, acks: -1, messages: [{ key: 'k', value: 'via mTLS' }] });
  await good.disconnect();
  assert.deepEqual((await readTopic('source', mtlsTopic)).map((r) => r.value), ['via mTLS']);
  assert.ok(metricValue(await metrics(), 'kmp_refused_connections_total', { reason: 'tls_handshake_failed' }) >= 2);
});

test('KIP-368: with a session lifetime kafkajs re-authenticates and keeps producing', async () => {
  const producer = kafkajs(ports.reauth, { sasl: scram512(), reauthenticationThreshold: 1500 }).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({ topic: reauthTopic, acks: -1, messages: [{ value: 'before' }] });
  await new Promise((r) => setTimeout(r, 2000));
  await producer.send({ topic: reauthTopic, acks: -1, messages: [{ value: 'after' }] });
  await producer.disconnect();
  assert.deepEqual((await readTopic('source', reauthTopic)).map((r) => r.value).sort(), ['after', 'before']);
  assert.ok(metricValue(await metrics(), 'kmp_sasl_authentications_total', { listener: 'reauth', result: 'reauthentication' }) >= 1, 'a re-authentication was counted');
  assert.match(proxy.logs(), /SASL re-authentication succeeded/);
});

test('SIGHUP: a new certificate and a new user take effect without dropping open connections', async () => {
  const opened = await RawKafkaClient.connect({ port: ports.saslSsl, tls: { ca: ca.cert } });
  assert.equal((await opened.login('SCRAM-SHA-512', ALICE.username, ALICE.password))?.errorCode, 0);
  const renewed = issueCert(path.join(dir, 'ca'), ca, 'server-renewed', { kind: 'server', cn: 'renewed.localhost' });
  fs.copyFileSync(renewed.certFile, liveCert.certFile);
  fs.copyFileSync(renewed.keyFile, liveCert.keyFile);
  fs.appendFileSync(credentialsFile, credentialsEntryYaml('carol', 'new-user-1', ['SCRAM-SHA-512']).replace(/^users:\n/, ''));
  proxy.child.kill('SIGHUP');
  for (let i = 0; i < 50 && !/reload complete/.test(proxy.logs()); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(proxy.logs(), /reload complete/);

  const fresh = await RawKafkaClient.connect({ port: ports.saslSsl, tls: { ca: ca.cert } });
  assert.equal((fresh.socket as tls.TLSSocket).getPeerCertificate().subject.CN, 'renewed.localhost');
  assert.equal((await fresh.login('SCRAM-SHA-512', 'carol', 'new-user-1'))?.errorCode, 0, 'the new user can log in');
  // The connection from before the reload is still open and served.
  assert.equal(opened.isClosed, false);
  assert.equal((await opened.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, API_VERSIONS_V3))?.errorCode, 0);
  opened.close();
  fresh.close();
});

test('the authenticated principal is in the inventory and in /metrics', async () => {
  const inventory = (await (await fetch(`${proxy.adminUrl}/v1/inventory?topic=${topics.kafkajs.tgt}`)).json()) as { topics: { producers: { principal: string | null }[] }[] };
  const principals = inventory.topics.flatMap((t) => t.producers.map((p) => p.principal));
  assert.ok(principals.includes('alice'), JSON.stringify(inventory));
  const rd = (await (await fetch(`${proxy.adminUrl}/v1/inventory?topic=${topics.rdkafka.src}`)).json()) as { topics: { producers: { principal: string | null }[] }[] };
  assert.ok(rd.topics.flatMap((t) => t.producers.map((p) => p.principal)).includes('bob'));
  const text = await metrics();
  assert.ok(metricValue(text, 'kmp_sasl_authentications_total', { listener: 'sasl-ssl', mechanism: 'SCRAM-SHA-512', result: 'success' }) >= 1);
  assert.ok(metricValue(text, 'kmp_sasl_authentications_total', { listener: 'sasl-ssl', mechanism: 'SCRAM-SHA-256', result: 'success' }) >= 1);
  assert.match(text, /kmp_authenticated_connections\{listener="sasl-ssl",principal="alice"\}/);
});

test('limits: connections above the per-address and global caps are refused while existing ones keep working', async () => {
  const port = await freePort();
  const p = await startProxy({
    port,
    routes: { default: 'source' },
    extra: { proxy: { listen: `127.0.0.1:${port}`, advertised: `127.0.0.1:${port}`, nodeId: 0, limits: { maxConnections: 4, maxConnectionsPerAddress: 3 } } },
  });
  try {
    const from = (localAddress: string) => RawKafkaClient.connect({ port: p.port, localAddress });
    const ok = async (c: RawKafkaClient) => (await c.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, API_VERSIONS_V3))?.errorCode === 0;
    const open = [await from('127.0.0.1'), await from('127.0.0.1'), await from('127.0.0.1')];
    for (const c of open) assert.ok(await ok(c));
    const extraSameAddress = await from('127.0.0.1');
    assert.equal(await extraSameAddress.request(ApiKey.ApiVersions, 3, API_VERSIONS_V3), null, 'a 4th connection from 127.0.0.1 is refused');
    open.push(await from('127.0.0.2'));
    assert.ok(await ok(open[3]));
    const overGlobal = await from('127.0.0.3');
    assert.equal(await overGlobal.request(ApiKey.ApiVersions, 3, API_VERSIONS_V3), null, 'a 5th connection overall is refused');
    // The four admitted connections still work.
    for (const c of open) assert.ok(await ok(c));
    const text = await (await fetch(`${p.adminUrl}/metrics`)).text();
    assert.equal(metricValue(text, 'kmp_limit_hits_total', { limit: 'max_connections_per_address' }), 1);
    assert.equal(metricValue(text, 'kmp_limit_hits_total', { limit: 'max_connections' }), 1);
    for (const c of open) c.close();
  } finally {
    await p.stop();
  }
});
