// The proxy's upstream side (BrokerConnection) against a stand-in broker built from kmp's own server pieces
// (a TLS + SASL ProxyListener with a stub Metadata handler): TLS with CA and hostname verification, SCRAM and
// PLAIN logins with the proxy's credentials, a refused login surfacing as an upstream error, and KIP-368
// re-authentication with requests held meanwhile — no request fails and the session never expires.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ApiKey } from '../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../protocol/codec.ts';
import { defaultMetadataRequest } from '../../protocol/messages/metadata-request.ts';
import { ProxyListener } from '../../src/proxy/listener.ts';
import type { Handler } from '../../src/proxy/handler.ts';
import { apiVersionsHandler } from '../../src/proxy/handlers/api-versions.ts';
import { saslHandshakeHandler } from '../../src/proxy/handlers/sasl-handshake.ts';
import { saslAuthenticateHandler } from '../../src/proxy/handlers/sasl-authenticate.ts';
import { createSaslAuthenticator } from '../../src/security/setup.ts';
import { credentialsEntryYaml } from '../../src/security/credentials.ts';
import { loadUpstreamTls } from '../../src/security/tls.ts';
import { reauthenticationDelayMs } from '../../src/security/sasl-client.ts';
import type { SecurityEvents } from '../../src/security/events.ts';
import { BrokerConnection } from '../../src/upstream/broker-connection.ts';
import { createCa, issueCert, type TestCa } from '../support/tls-certs.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-upstream-'));
const seen: string[] = [];
const events: SecurityEvents = {
  limit: (l) => seen.push(`limit:${l}`),
  refused: (r) => seen.push(`refused:${r}`),
  authenticated: (_l, m, p, re) => seen.push(`${re ? 'reauth' : 'auth'}:${m}:${p}`),
  authenticationFailed: (_l, m) => seen.push(`failed:${m}`),
};
const listeners: ProxyListener[] = [];
let ca: TestCa;
const log = pino({ level: 'silent' });

const metadataStub: Handler = (ctx, respond) => {
  const body = { throttleTimeMs: 0, brokers: [], clusterId: `seen-as:${ctx.connection.principal}`, controllerId: -1, topics: [], clusterAuthorizedOperations: -2147483648 };
  respond.send(encodeResponseFrame(ApiKey.Metadata, ctx.header.requestApiVersion, ctx.header.correlationId, body as never));
};

async function fakeBroker(sessionLifetimeMs: number): Promise<number> {
  const credentialsFile = path.join(dir, 'broker-users.yaml');
  const server = issueCert(dir, ca, 'broker', { kind: 'server', cn: 'localhost' });
  const sasl = createSaslAuthenticator({ listener: 'broker', sasl: { mechanisms: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], credentialsFile, sessionLifetimeMs }, handshakeTimeoutMs: 5_000, events });
  const handlers = new Map<number, Handler>([
    [ApiKey.ApiVersions, apiVersionsHandler(() => [{ apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 12 }, { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 4 }])],
    [ApiKey.SaslHandshake, saslHandshakeHandler()],
    [ApiKey.SaslAuthenticate, saslAuthenticateHandler()],
    [ApiKey.Metadata, metadataStub],
  ]);
  const listener = new ProxyListener({
    name: 'broker', host: '127.0.0.1', port: 0, logger: log, maxFrameBytes: 1 << 20, maxInflightRequestsPerConnection: 64, maxConnections: 100,
    dispatch: (k) => handlers.get(k) ?? ((_c, r) => r.close('not served')), authenticator: sasl.authenticator, events,
    tls: { certFile: server.certFile, keyFile: server.keyFile, clientAuth: 'none', minVersion: 'TLSv1.2' },
  });
  listeners.push(listener);
  return (await listener.listen()).port;
}

function connection(port: number, sasl: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }, host = '127.0.0.1'): BrokerConnection {
  return new BrokerConnection({
    host, port, clientId: 'kmp-test', requestTimeoutMs: 5_000, connectTimeoutMs: 5_000, maxFrameBytes: 1 << 20, logger: log,
    tls: loadUpstreamTls({ ca: ca.cert.toString(), rejectUnauthorized: true, verifyHostname: true }).forHost(host),
    sasl,
  });
}

const metadata = async (c: BrokerConnection) => ((await c.send(ApiKey.Metadata, 4, { ...defaultMetadataRequest(), topics: [], allowAutoTopicCreation: false })) as { clusterId: string }).clusterId;

before(() => {
  ca = createCa(dir, 'upstream-ca');
  fs.writeFileSync(path.join(dir, 'broker-users.yaml'), credentialsEntryYaml('kmp', 'upstream-secret', ['SCRAM-SHA-512', 'SCRAM-SHA-256'], 4096));
});

after(async () => {
  await Promise.all(listeners.map((l) => l.close(50)));
});

test('TLS (CA, hostname) + SCRAM-SHA-512 / SCRAM-SHA-256 / PLAIN with the proxy\'s credentials', async () => {
  const port = await fakeBroker(0);
  for (const mechanism of ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN'] as const) {
    const c = connection(port, { mechanism, username: 'kmp', password: 'upstream-secret' });
    await c.connect();
    assert.equal(await metadata(c), 'seen-as:kmp', mechanism);
    c.close();
  }
});

test('a refused login or an untrusted broker certificate fails the connect with the reason', async () => {
  const port = await fakeBroker(0);
  const wrong = connection(port, { mechanism: 'SCRAM-SHA-512', username: 'kmp', password: 'nope' });
  await assert.rejects(wrong.connect(), /SCRAM-SHA-512 login as "kmp" failed: error 58/);
  assert.equal(wrong.isOpen, false);
  const untrusted = new BrokerConnection({
    host: '127.0.0.1', port, clientId: 'kmp-test', requestTimeoutMs: 5_000, connectTimeoutMs: 5_000, maxFrameBytes: 1 << 20, logger: log,
    tls: { ca: createCa(path.join(dir, 'other'), 'other-ca').cert },
    sasl: { mechanism: 'PLAIN', username: 'kmp', password: 'upstream-secret' },
  });
  await assert.rejects(untrusted.connect(), /self-signed|unable to verify|certificate/i);
  // The certificate is for 127.0.0.1/localhost: another name fails hostname verification.
  const misnamed = new BrokerConnection({
    host: '127.0.0.1', port, clientId: 'kmp-test', requestTimeoutMs: 5_000, connectTimeoutMs: 5_000, maxFrameBytes: 1 << 20, logger: log,
    tls: loadUpstreamTls({ ca: ca.cert.toString(), servername: 'kafka.example.com', rejectUnauthorized: true, verifyHostname: true }).forHost('127.0.0.1'),
  });
  await assert.rejects(misnamed.connect(), /kafka\.example\.com|altnames|Hostname/i);
});

test('KIP-368 upstream: kmp re-authenticates before the session ends; requests sent meanwhile are held, none fails', async () => {
  const port = await fakeBroker(600);
  seen.length = 0;
  const c = connection(port, { mechanism: 'SCRAM-SHA-512', username: 'kmp', password: 'upstream-secret' });
  await c.connect();
  const results: Promise<string>[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < 2_000) {
    results.push(metadata(c));
    await new Promise((r) => setTimeout(r, 20));
  }
  const answers = await Promise.all(results);
  assert.ok(answers.every((a) => a === 'seen-as:kmp'));
  assert.ok(c.isOpen, 'the connection survived several session lifetimes');
  assert.ok(seen.filter((s) => s === 'reauth:SCRAM-SHA-512:kmp').length >= 2, seen.join());
  assert.ok(!seen.includes('refused:session_expired'));
  c.close();
  assert.ok(reauthenticationDelayMs(1000, () => 0) === 850 && reauthenticationDelayMs(1000, () => 1) === 950);
});
