// Connection-level limits on a ProxyListener, each counted when it fires: max connections (global, across
// listeners) and per remote address (127.0.0.2 and .3 are other addresses on Linux loopback), the idle timeout
// (but not while a request is in flight), the max frame size, and the max in-flight requests pause.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ApiKey } from '../../protocol/messages/index.ts';
import { defaultMetadataRequest } from '../../protocol/messages/metadata-request.ts';
import { ProxyListener } from '../../src/proxy/listener.ts';
import type { Handler } from '../../src/proxy/handler.ts';
import { apiVersionsHandler } from '../../src/proxy/handlers/api-versions.ts';
import { ConnectionLimiter } from '../../src/security/connection-limiter.ts';
import type { SecurityEvents } from '../../src/security/events.ts';
import { RawKafkaClient, API_VERSIONS_V3 } from '../support/raw-kafka-client.ts';

const seen: string[] = [];
const events: SecurityEvents = {
  limit: (l, listener) => seen.push(`${listener}:${l}`),
  refused: () => {},
  authenticated: () => {},
  authenticationFailed: () => {},
};
const listeners: ProxyListener[] = [];
const apiVersions = apiVersionsHandler(() => [{ apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 4 }, { apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 12 }]);
/** Metadata never answers: a request that stays in flight. */
const hang: Handler = () => new Promise<void>(() => {});

async function listen(name: string, opts: { limiter?: ConnectionLimiter; idleTimeoutMs?: number; maxFrameBytes?: number; maxInflight?: number }): Promise<number> {
  const listener = new ProxyListener({
    name, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }),
    maxFrameBytes: opts.maxFrameBytes ?? 1 << 20, maxInflightRequestsPerConnection: opts.maxInflight ?? 64, maxConnections: 10_000,
    dispatch: (k) => (k === ApiKey.ApiVersions ? apiVersions : hang),
    events,
    ...(opts.limiter ? { limiter: opts.limiter } : {}),
    ...(opts.idleTimeoutMs !== undefined ? { idleTimeoutMs: opts.idleTimeoutMs } : {}),
  });
  listeners.push(listener);
  return (await listener.listen()).port;
}

const ok = async (c: RawKafkaClient) => (await c.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, API_VERSIONS_V3))?.errorCode === 0;

after(async () => {
  await Promise.all(listeners.map((l) => l.close(50)));
});

test('max connections per address and in total, shared by listeners; refused ones are closed at once', async () => {
  const limiter = new ConnectionLimiter({ maxConnections: 5, maxConnectionsPerAddress: 2 });
  const a = await listen('a', { limiter });
  const b = await listen('b', { limiter });
  seen.length = 0;
  const from = (port: number, localAddress: string) => RawKafkaClient.connect({ port, localAddress });
  const first = [await from(a, '127.0.0.1'), await from(b, '127.0.0.1')];
  for (const c of first) assert.ok(await ok(c));
  const third = await from(a, '127.0.0.1');
  assert.equal(await third.request(ApiKey.ApiVersions, 3, API_VERSIONS_V3), null, 'a third connection from 127.0.0.1 is refused');
  assert.deepEqual(seen, ['a:max_connections_per_address']);
  const others = [await from(a, '127.0.0.2'), await from(b, '127.0.0.2'), await from(a, '127.0.0.3')];
  for (const c of others) assert.ok(await ok(c));
  const sixth = await from(b, '127.0.0.4');
  assert.equal(await sixth.request(ApiKey.ApiVersions, 3, API_VERSIONS_V3), null, 'the sixth connection overall is refused');
  assert.deepEqual(seen, ['a:max_connections_per_address', 'b:max_connections']);
  // Existing connections keep working; a closed one frees its slot.
  for (const c of [...first, ...others]) assert.ok(await ok(c));
  first[0].close();
  await first[0].closed;
  await new Promise((r) => setTimeout(r, 50));
  const again = await from(a, '127.0.0.1');
  assert.ok(await ok(again));
  assert.equal(limiter.total, 5);
  for (const c of [...first, ...others, again]) c.close();
});

test('idle timeout closes a quiet connection, but not one waiting for an answer', async () => {
  const port = await listen('idle', { idleTimeoutMs: 300 });
  seen.length = 0;
  const quiet = await RawKafkaClient.connect({ port });
  const busy = await RawKafkaClient.connect({ port });
  assert.ok(await ok(quiet));
  busy.write(ApiKey.Metadata, 4, { ...defaultMetadataRequest(), topics: [], allowAutoTopicCreation: false });
  await quiet.closed;
  assert.deepEqual(seen, ['idle:idle_timeout']);
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(busy.isClosed, false, 'a request in flight is not idleness');
  busy.close();
});

test('a frame above the max frame size closes the connection (and says so for TLS on plaintext)', async () => {
  const port = await listen('frames', { maxFrameBytes: 1024 });
  seen.length = 0;
  const c = await RawKafkaClient.connect({ port });
  c.writeRaw(Buffer.alloc(4096));
  await c.closed;
  assert.deepEqual(seen, ['frames:max_frame_bytes']);
});

test('max in-flight requests: reading pauses (counted) and resumes as answers go out', async () => {
  const port = await listen('inflight', { maxInflight: 2 });
  seen.length = 0;
  const c = await RawKafkaClient.connect({ port });
  // Five requests in one write: the connection has five unanswered requests before any is dispatched.
  const chunks: Buffer[] = [];
  const original = c.socket.write.bind(c.socket);
  (c.socket as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => (chunks.push(b), true);
  for (let i = 0; i < 5; i++) c.write(ApiKey.ApiVersions, 3, API_VERSIONS_V3);
  (c.socket as unknown as { write: typeof original }).write = original;
  original(Buffer.concat(chunks));
  for (let i = 0; i < 5; i++) assert.ok(await c.nextFrame(), `answer ${i}`);
  assert.ok(seen.includes('inflight:max_inflight_requests'));
  c.close();
});
