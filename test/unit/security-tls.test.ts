// Client-facing TLS on a ProxyListener (certificate from files, mTLS with required/requested client
// certificates, the principal from the client certificate, reload without dropping connections), the admin API
// over HTTPS, and the upstream TLS options (SNI only for host names, hostname verification switch).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { ApiKey } from '../../protocol/messages/index.ts';
import { ProxyListener } from '../../src/proxy/listener.ts';
import type { Handler } from '../../src/proxy/handler.ts';
import { apiVersionsHandler } from '../../src/proxy/handlers/api-versions.ts';
import type { ServerTlsConfig, ClientAuthMode } from '../../src/security/tls.ts';
import { loadUpstreamTls, TlsConfigError, loadServerSecureContextOptions } from '../../src/security/tls.ts';
import type { SecurityEvents } from '../../src/security/events.ts';
import { startAdminServer } from '../../src/admin/server.ts';
import { RawKafkaClient, API_VERSIONS_V3 } from '../support/raw-kafka-client.ts';
import { createCa, issueCert, type CertFiles, type TestCa } from '../support/tls-certs.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-tls-'));
let ca: TestCa;
let otherCa: TestCa;
let server: CertFiles;
let trustedClient: CertFiles;
let untrustedClient: CertFiles;
const seen: string[] = [];
const principals: (string | null)[] = [];
const events: SecurityEvents = {
  limit: (l) => seen.push(`limit:${l}`),
  refused: (r) => seen.push(`refused:${r}`),
  authenticated: () => {},
  authenticationFailed: () => {},
};
const listeners: ProxyListener[] = [];

const apiVersions = apiVersionsHandler(() => [{ apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 4 }]);
const dispatch = (): Handler => (ctx, respond) => {
  principals.push(ctx.connection.principal);
  return apiVersions(ctx, respond);
};

async function tlsListener(clientAuth: ClientAuthMode, certFile = server.certFile, keyFile = server.keyFile): Promise<{ port: number; listener: ProxyListener }> {
  const config: ServerTlsConfig = { certFile, keyFile, clientAuth, minVersion: 'TLSv1.2', ...(clientAuth !== 'none' ? { clientCaFile: ca.certFile } : {}) };
  const listener = new ProxyListener({
    name: 'tls', host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), maxFrameBytes: 1 << 20,
    maxInflightRequestsPerConnection: 16, maxConnections: 100, dispatch, tls: config, tlsHandshakeTimeoutMs: 1_000, events,
  });
  listeners.push(listener);
  return { port: (await listener.listen()).port, listener };
}

async function apiVersionsOver(port: number, options: tls.ConnectionOptions): Promise<number | null> {
  const c = await RawKafkaClient.connect({ port, tls: options });
  try {
    const res = await c.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
    return res?.errorCode ?? null;
  } finally {
    c.close();
  }
}

before(() => {
  ca = createCa(path.join(dir, 'ca'), 'kmp-test-ca');
  otherCa = createCa(path.join(dir, 'other'), 'rogue-ca');
  server = issueCert(path.join(dir, 'ca'), ca, 'server', { kind: 'server', cn: 'localhost' });
  trustedClient = issueCert(path.join(dir, 'ca'), ca, 'app-1', { kind: 'client', cn: 'app-1', org: 'acme' });
  untrustedClient = issueCert(path.join(dir, 'other'), otherCa, 'intruder', { kind: 'client', cn: 'intruder' });
});

after(async () => {
  await Promise.all(listeners.map((l) => l.close(100)));
});

test('TLS listener: a client trusting the CA talks Kafka; one that does not, fails the handshake', async () => {
  const { port } = await tlsListener('none');
  assert.equal(await apiVersionsOver(port, { ca: ca.cert }), 0);
  assert.equal(await apiVersionsOver(port, { ca: ca.cert, servername: 'localhost' }), 0);
  await assert.rejects(RawKafkaClient.connect({ port, tls: { ca: otherCa.cert } }), /self-signed|unable to verify|certificate/i);
  // Plaintext Kafka on a TLS listener never reaches the data path.
  seen.length = 0;
  const plain = await RawKafkaClient.connect({ port });
  assert.equal(await plain.request(ApiKey.ApiVersions, 3, API_VERSIONS_V3), null);
  assert.ok(seen.includes('refused:tls_handshake_failed'));
});

test('mTLS required: no certificate or an untrusted one is refused; a trusted one gets its subject as principal', async () => {
  const { port } = await tlsListener('required');
  seen.length = 0;
  principals.length = 0;
  // TLS 1.3: the client learns about the refusal only when it reads, so either the handshake or the request fails.
  const refused = async (options: tls.ConnectionOptions) => {
    try {
      return (await apiVersionsOver(port, options)) === null;
    } catch {
      return true;
    }
  };
  assert.equal(await refused({ ca: ca.cert }), true, 'no client certificate');
  assert.equal(await refused({ ca: ca.cert, cert: untrustedClient.cert, key: untrustedClient.key }), true, 'untrusted client certificate');
  assert.equal(await apiVersionsOver(port, { ca: ca.cert, cert: trustedClient.cert, key: trustedClient.key }), 0);
  assert.deepEqual(principals, ['CN=app-1,O=acme']);
  assert.equal(seen.filter((s) => s === 'refused:tls_handshake_failed').length, 2);
});

test('mTLS requested: no certificate is fine (anonymous), an untrusted one is refused', async () => {
  const { port } = await tlsListener('requested');
  principals.length = 0;
  assert.equal(await apiVersionsOver(port, { ca: ca.cert }), 0);
  assert.deepEqual(principals, [null]);
  let refused = false;
  try {
    refused = (await apiVersionsOver(port, { ca: ca.cert, cert: untrustedClient.cert, key: untrustedClient.key })) === null;
  } catch {
    refused = true;
  }
  assert.equal(refused, true);
});

test('reload: new handshakes get the new certificate, open connections keep working; a broken file keeps the old one', async () => {
  const live = path.join(dir, 'live');
  fs.mkdirSync(live);
  const certFile = path.join(live, 'server.pem');
  const keyFile = path.join(live, 'server.key');
  fs.copyFileSync(server.certFile, certFile);
  fs.copyFileSync(server.keyFile, keyFile);
  const { port, listener } = await tlsListener('none', certFile, keyFile);
  const before = await RawKafkaClient.connect({ port, tls: { ca: ca.cert } });
  assert.equal((before.socket as tls.TLSSocket).getPeerCertificate().subject.CN, 'localhost');

  const renewed = issueCert(path.join(dir, 'ca'), ca, 'server-renewed', { kind: 'server', cn: 'renewed.localhost' });
  fs.copyFileSync(renewed.certFile, certFile);
  fs.copyFileSync(renewed.keyFile, keyFile);
  listener.reloadTls();
  const after = await RawKafkaClient.connect({ port, tls: { ca: ca.cert } });
  assert.equal((after.socket as tls.TLSSocket).getPeerCertificate().subject.CN, 'renewed.localhost');
  // The connection opened before the reload is still up and served.
  assert.equal((await before.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, API_VERSIONS_V3))?.errorCode, 0);

  fs.writeFileSync(certFile, 'not a certificate');
  assert.throws(() => listener.reloadTls(), TlsConfigError);
  const still = await RawKafkaClient.connect({ port, tls: { ca: ca.cert } });
  assert.equal((still.socket as tls.TLSSocket).getPeerCertificate().subject.CN, 'renewed.localhost');
  for (const c of [before, after, still]) c.close();
});

test('a key that does not match the certificate is a clear error at load', () => {
  assert.throws(
    () => loadServerSecureContextOptions({ certFile: server.certFile, keyFile: trustedClient.keyFile, clientAuth: 'none', minVersion: 'TLSv1.2' }),
    /unusable/,
  );
  assert.throws(() => loadServerSecureContextOptions({ certFile: path.join(dir, 'missing.pem'), keyFile: server.keyFile, clientAuth: 'none', minVersion: 'TLSv1.2' }), /cannot read certificate .*ENOENT/);
});

test('admin API over HTTPS (with mTLS), reloadable', async () => {
  const admin = await startAdminServer({
    listen: '127.0.0.1:0',
    tokens: [],
    controlPlane: {} as never,
    status: () => ({}),
    ready: () => true,
    registry: { contentType: 'text/plain', metrics: async () => '' },
    logger: pino({ level: 'silent' }),
    tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: ca.certFile, clientAuth: 'required', minVersion: 'TLSv1.2' },
  });
  try {
    assert.match(admin.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const get = (options: https.RequestOptions) => new Promise<number>((resolve, reject) => {
      https.get(`${admin.url}/healthz`, options, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(await get({ ca: ca.cert, cert: trustedClient.cert, key: trustedClient.key }), 200);
    await assert.rejects(get({ ca: ca.cert }));
    await assert.rejects(get({ ca: otherCa.cert, cert: trustedClient.cert, key: trustedClient.key }));
    admin.reloadTls();
    assert.equal(await get({ ca: ca.cert, cert: trustedClient.cert, key: trustedClient.key }), 200);
  } finally {
    await admin.close();
  }
});

test('upstream TLS options: SNI for host names only, hostname verification on by default', () => {
  const base = { ca: ca.cert.toString(), rejectUnauthorized: true, verifyHostname: true };
  const byName = loadUpstreamTls(base).forHost('broker-1.example.com');
  assert.equal(byName.servername, 'broker-1.example.com');
  assert.equal(byName.checkServerIdentity, undefined, 'Node default: names are checked');
  assert.equal(loadUpstreamTls(base).forHost('127.0.0.1').servername, undefined);
  const noHostCheck = loadUpstreamTls({ ...base, verifyHostname: false }).forHost('10.0.0.1');
  assert.equal(noHostCheck.checkServerIdentity?.('10.0.0.1', {} as tls.PeerCertificate), undefined);
  const pinned = loadUpstreamTls({ ...base, servername: 'kafka.internal' }).forHost('10.0.0.1');
  assert.equal(pinned.servername, 'kafka.internal');
  assert.ok(pinned.checkServerIdentity?.('10.0.0.1', { subject: { CN: 'other' }, subjectaltname: 'DNS:other' } as unknown as tls.PeerCertificate) instanceof Error);
  assert.throws(() => loadUpstreamTls({ ...base, ca: undefined, caFile: path.join(dir, 'nope.pem') }), /cannot read CA bundle/);
});
