// The client-facing SASL state machine through a real ProxyListener on loopback, driven by a raw wire client:
// requests before authentication are refused (connection closed, nothing answered); PLAIN and SCRAM logins
// (SaslHandshake v1 + SaslAuthenticate v0-2, and raw tokens after SaslHandshake v0); a wrong password gets
// SASL_AUTHENTICATION_FAILED (58) and then the connection closes; an unknown mechanism gets 33; the handshake
// timeout; KIP-368 session lifetime, re-authentication on the same connection, and expiry.
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
import type { SecurityEvents } from '../../src/security/events.ts';
import { encodePlainMessage } from '../../src/security/plain.ts';
import { RawKafkaClient, API_VERSIONS_V3 } from '../support/raw-kafka-client.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-sasl-'));
const credentialsFile = path.join(dir, 'users.yaml');
const seen: string[] = [];
const principals: (string | null)[] = [];
const events: SecurityEvents = {
  limit: (l) => seen.push(`limit:${l}`),
  refused: (r) => seen.push(`refused:${r}`),
  authenticated: (_l, m, p, re) => seen.push(`${re ? 'reauth' : 'auth'}:${m}:${p}`),
  authenticationFailed: (_l, m) => seen.push(`failed:${m}`),
};

const METADATA_V4 = { ...defaultMetadataRequest(), topics: [], allowAutoTopicCreation: false };
const metadataStub: Handler = (ctx, respond) => {
  principals.push(ctx.connection.principal);
  const body = { throttleTimeMs: 0, brokers: [], clusterId: 'test', controllerId: -1, topics: [], clusterAuthorizedOperations: -2147483648 };
  respond.send(encodeResponseFrame(ApiKey.Metadata, ctx.header.requestApiVersion, ctx.header.correlationId, body as never));
};

const listeners: ProxyListener[] = [];

async function startListener(opts: { sessionLifetimeMs?: number; handshakeTimeoutMs?: number } = {}): Promise<number> {
  const sasl = createSaslAuthenticator({
    listener: 'sasl',
    sasl: { mechanisms: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], credentialsFile, sessionLifetimeMs: opts.sessionLifetimeMs ?? 0 },
    handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5_000,
    events,
  });
  const handlers = new Map<number, Handler>([
    [ApiKey.ApiVersions, apiVersionsHandler(() => [{ apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 12 }, { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 4 }])],
    [ApiKey.SaslHandshake, saslHandshakeHandler()],
    [ApiKey.SaslAuthenticate, saslAuthenticateHandler()],
    [ApiKey.Metadata, metadataStub],
  ]);
  const listener = new ProxyListener({
    name: 'sasl', host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), maxFrameBytes: 1 << 20,
    maxInflightRequestsPerConnection: 16, maxConnections: 100, events,
    dispatch: (k) => handlers.get(k) ?? ((_c, r) => r.close('not served')),
    authenticator: sasl.authenticator,
  });
  listeners.push(listener);
  return (await listener.listen()).port;
}

let port: number;
before(async () => {
  fs.writeFileSync(credentialsFile, credentialsEntryYaml('alice', 'wonderland', ['SCRAM-SHA-512', 'SCRAM-SHA-256'], 4096));
  fs.appendFileSync(credentialsFile, credentialsEntryYaml('bob', 'builder', ['SCRAM-SHA-256'], 4096).replace(/^users:\n/, ''));
  port = await startListener();
});

after(async () => {
  await Promise.all(listeners.map((l) => l.close(100)));
});

test('ApiVersions is answered before login and lists SaslHandshake 0-1 and SaslAuthenticate 0-2', async () => {
  const c = await RawKafkaClient.connect({ port });
  const res = await c.request<{ errorCode: number; apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[] }>(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  assert.equal(res?.errorCode, 0);
  const byKey = new Map(res!.apiKeys.map((a) => [a.apiKey, [a.minVersion, a.maxVersion]]));
  assert.deepEqual(byKey.get(ApiKey.SaslHandshake), [0, 1]);
  assert.deepEqual(byKey.get(ApiKey.SaslAuthenticate), [0, 2]);
  c.close();
});

test('a request before authentication is refused: no answer, the connection closes', async () => {
  seen.length = 0;
  const c = await RawKafkaClient.connect({ port });
  assert.equal(await c.request(ApiKey.Metadata, 4, METADATA_V4), null);
  await c.closed;
  assert.ok(seen.includes('refused:unauthenticated_request'), seen.join());
  // So is SaslAuthenticate without a handshake first.
  const d = await RawKafkaClient.connect({ port });
  assert.equal(await d.request(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from('x') }), null);
});

for (const [mechanism, user, password] of [['SCRAM-SHA-512', 'alice', 'wonderland'], ['SCRAM-SHA-256', 'bob', 'builder'], ['PLAIN', 'alice', 'wonderland']] as const) {
  for (const authVersion of [0, 1, 2]) {
    test(`${mechanism} login (SaslAuthenticate v${authVersion}), then requests are served with the principal set`, async () => {
      seen.length = 0;
      principals.length = 0;
      const c = await RawKafkaClient.connect({ port });
      const auth = await c.login(mechanism, user, password, authVersion);
      assert.equal(auth?.errorCode, 0, auth?.errorMessage ?? '');
      assert.equal(auth?.sessionLifetimeMs, 0n);
      const md = await c.request<{ clusterId: string }>(ApiKey.Metadata, 4, METADATA_V4);
      assert.equal(md?.clusterId, 'test');
      assert.deepEqual(principals, [user]);
      assert.deepEqual(seen, [`auth:${mechanism}:${user}`]);
      c.close();
    });
  }
}

test('wrong password: SASL_AUTHENTICATION_FAILED (58) with a message, then the connection closes', async () => {
  for (const mechanism of ['SCRAM-SHA-512', 'PLAIN'] as const) {
    seen.length = 0;
    const c = await RawKafkaClient.connect({ port });
    const auth = await c.login(mechanism, 'alice', 'not-the-password');
    assert.equal(auth?.errorCode, 58);
    assert.match(auth?.errorMessage ?? '', new RegExp(`Authentication failed.*${mechanism}`));
    await c.closed;
    assert.deepEqual(seen, [`failed:${mechanism}`, 'refused:sasl_authentication_failed']);
  }
  // An unknown user looks exactly like a wrong password.
  const c = await RawKafkaClient.connect({ port });
  const auth = await c.login('SCRAM-SHA-512', 'mallory', 'wonderland');
  assert.equal(auth?.errorCode, 58);
  await c.closed;
});

test('a mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM (33) listing the enabled ones, then close', async () => {
  const c = await RawKafkaClient.connect({ port });
  const hs = await c.request<{ errorCode: number; mechanisms: string[] }>(ApiKey.SaslHandshake, 1, { mechanism: 'GSSAPI' });
  assert.equal(hs?.errorCode, 33);
  assert.deepEqual(hs?.mechanisms, ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']);
  await c.closed;
});

test('SaslHandshake v0: raw tokens without Kafka framing (PLAIN: an empty token back), wrong password closes', async () => {
  const c = await RawKafkaClient.connect({ port });
  const hs = await c.request<{ errorCode: number }>(ApiKey.SaslHandshake, 0, { mechanism: 'PLAIN' });
  assert.equal(hs?.errorCode, 0);
  c.writeRaw(encodePlainMessage('alice', 'wonderland'));
  const token = await c.nextFrame();
  assert.deepEqual(token, Buffer.alloc(0));
  assert.equal((await c.request<{ clusterId: string }>(ApiKey.Metadata, 4, METADATA_V4))?.clusterId, 'test');
  c.close();

  const d = await RawKafkaClient.connect({ port });
  await d.request(ApiKey.SaslHandshake, 0, { mechanism: 'PLAIN' });
  d.writeRaw(encodePlainMessage('alice', 'nope'));
  assert.equal(await d.nextFrame(), null);
  await d.closed;
});

test('a login not completed within the handshake timeout closes the connection (counted)', async () => {
  const quick = await startListener({ handshakeTimeoutMs: 300 });
  seen.length = 0;
  const c = await RawKafkaClient.connect({ port: quick });
  await c.request(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  const t0 = Date.now();
  await c.closed;
  assert.ok(Date.now() - t0 < 2_000);
  assert.deepEqual(seen, ['limit:sasl_handshake_timeout']);
  // A client that logs in in time is not affected.
  const d = await RawKafkaClient.connect({ port: quick });
  assert.equal((await d.login('SCRAM-SHA-512', 'alice', 'wonderland'))?.errorCode, 0);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(d.isClosed, false);
  d.close();
});

test('KIP-368: the session lifetime is announced (v1+), re-authentication keeps the connection, expiry closes it', async () => {
  const lifetimePort = await startListener({ sessionLifetimeMs: 400 });
  seen.length = 0;
  const c = await RawKafkaClient.connect({ port: lifetimePort });
  const auth = await c.login('SCRAM-SHA-512', 'alice', 'wonderland', 1);
  assert.equal(auth?.sessionLifetimeMs, 400n);
  assert.ok(await c.request(ApiKey.Metadata, 4, METADATA_V4));
  await new Promise((r) => setTimeout(r, 250));
  // Re-authenticate on the same connection before expiry: same mechanism, same user.
  assert.equal((await c.login('SCRAM-SHA-512', 'alice', 'wonderland', 2))?.errorCode, 0);
  await new Promise((r) => setTimeout(r, 250));
  assert.ok(await c.request(ApiKey.Metadata, 4, METADATA_V4), 'still served 500 ms after the first login');
  assert.deepEqual(seen, ['auth:SCRAM-SHA-512:alice', 'reauth:SCRAM-SHA-512:alice']);
  // No re-authentication this time: the first request after expiry closes the connection.
  await new Promise((r) => setTimeout(r, 450));
  assert.equal(await c.request(ApiKey.Metadata, 4, METADATA_V4), null);
  assert.ok(seen.includes('refused:session_expired'));

  // Re-authentication as another user, or with another mechanism, is refused.
  const d = await RawKafkaClient.connect({ port: lifetimePort });
  assert.equal((await d.login('SCRAM-SHA-256', 'alice', 'wonderland'))?.errorCode, 0);
  assert.equal((await d.login('SCRAM-SHA-256', 'bob', 'builder'))?.errorCode, 58);
  await d.closed;
  const e = await RawKafkaClient.connect({ port: lifetimePort });
  assert.equal((await e.login('SCRAM-SHA-256', 'alice', 'wonderland'))?.errorCode, 0);
  assert.equal((await e.login('SCRAM-SHA-512', 'alice', 'wonderland'))?.errorCode, 33);
  await e.closed;
});

test('pipelined: a request sent right behind the last SaslAuthenticate is served (the gate decides in order)', async () => {
  const c = await RawKafkaClient.connect({ port });
  await c.request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' });
  c.write(ApiKey.SaslAuthenticate, 2, { authBytes: encodePlainMessage('alice', 'wonderland') });
  c.write(ApiKey.Metadata, 4, METADATA_V4);
  assert.ok(await c.nextFrame());
  assert.ok(await c.nextFrame(), 'the Metadata answer arrives');
  c.close();
});

test('frames above 512 KiB are refused before login (counted as max_frame_bytes), accepted after it', async () => {
  const big = (c: RawKafkaClient) => {
    // A Metadata header followed by 600 KiB: the stub handler answers without decoding the body.
    const header = Buffer.alloc(2 + 2 + 4 + 2);
    header.writeInt16BE(ApiKey.Metadata, 0);
    header.writeInt16BE(4, 2);
    header.writeInt32BE(99, 4);
    header.writeInt16BE(-1, 8);
    c.writeRaw(Buffer.concat([header, Buffer.alloc(600 * 1024)]));
  };
  seen.length = 0;
  const before = await RawKafkaClient.connect({ port });
  big(before);
  await before.closed;
  assert.deepEqual(seen, ['limit:max_frame_bytes']);
  const after = await RawKafkaClient.connect({ port });
  assert.equal((await after.login('SCRAM-SHA-512', 'alice', 'wonderland'))?.errorCode, 0);
  big(after);
  const answer = await after.nextFrame();
  assert.equal(answer?.readInt32BE(0), 99, 'the 600 KiB request was read and answered');
  after.close();
});
