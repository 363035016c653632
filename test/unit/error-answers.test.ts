// Every error answer the proxy builds must encode at every version a client may use: the handlers are run for
// real (a cluster that cannot be reached, a transactional id, an unsupported version) at every version of the
// proxy's table and of the message schema, and each answer is decoded back. Issue #11 point 2: an
// InitProducerId error answer at v4 failed to encode ("non-default ongoingTxnProducerId") and closed the
// connection instead of telling the producer to retry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { decodeResponse, encodeRequestFrame } from '../../protocol/codec.ts';
import { decodeRequestHeader } from '../../protocol/header.ts';
import { ApiKey } from '../../protocol/messages/index.ts';
import type { RequestBody } from '../../protocol/messages/index.ts';
import { MESSAGE_SCHEMAS } from '../../protocol/messages/schemas.ts';
import { defaultMessage, versionsOf } from '../../protocol/sample-messages.ts';
import { defaultInitProducerIdRequest } from '../../protocol/messages/init-producer-id-request.ts';
import { defaultFindCoordinatorRequest } from '../../protocol/messages/find-coordinator-request.ts';
import type { Cluster } from '../../routing/cluster.ts';
import { initProducerIdHandler } from '../../src/proxy/handlers/init-producer-id.ts';
import { findCoordinatorHandler } from '../../src/proxy/handlers/find-coordinator.ts';
import { apiVersionsHandler } from '../../src/proxy/handlers/api-versions.ts';
import { createDispatcher } from '../../src/proxy/dispatcher.ts';
import { PROXY_APIS, advertisedApis } from '../../src/proxy/api-versions.ts';
import { ProducerIdMap, ISSUED_BY_OTHER_CLUSTER } from '../../src/proxy/producer-id-map.ts';
import type { Handler, RequestContext } from '../../src/proxy/handler.ts';
import type { ProxyContext } from '../../src/proxy/proxy-context.ts';

const log = pino({ level: 'silent' });

function schemaVersions(apiKey: number, type: 'request' | 'response'): number[] {
  const s = MESSAGE_SCHEMAS.find((m) => m.apiKey === apiKey && m.type === type);
  assert.ok(s, `schema for ${apiKey}`);
  return versionsOf(s);
}

/** Every version a client may send: the proxy's advertised range and the schema's, together. */
function versionsToTry(apiKey: number): number[] {
  const advertised = PROXY_APIS.find((a) => a.apiKey === apiKey);
  const all = new Set(schemaVersions(apiKey, 'request'));
  if (advertised) for (let v = advertised.min; v <= advertised.max; v++) all.add(v);
  return [...all].sort((a, b) => a - b);
}

/** Runs a handler on an encoded request; resolves with the decoded answer (or 'closed' with the reason). */
async function run(handler: Handler, apiKey: number, version: number, body: RequestBody): Promise<{ body: Record<string, unknown>; correlationId: number } | { closed: string }> {
  const frame = Buffer.concat(encodeRequestFrame({ requestApiKey: apiKey, requestApiVersion: version, correlationId: 77, clientId: 'test' }, body)).subarray(4);
  const { header, bodyOffset } = decodeRequestHeader(frame);
  let sent: Buffer[] | null = null;
  let closed: string | null = null;
  // Only what the handlers under test read of a connection.
  const connection = { id: 1, log, auth: null, advertisedNodes: undefined } as unknown as RequestContext['connection'];
  await handler({ header, frame, bodyOffset, connection }, {
    send: (chunks) => (sent = chunks),
    none: () => assert.fail('no answer'),
    close: (reason) => (closed = reason),
  });
  if (closed !== null) return { closed };
  assert.ok(sent !== null, 'answered');
  const bytes = Buffer.concat(sent as Buffer[]);
  assert.equal(bytes.readInt32BE(0), bytes.length - 4, 'size prefix');
  const decoded = decodeResponse(bytes.subarray(4), apiKey, version);
  return { body: decoded.body as unknown as Record<string, unknown>, correlationId: decoded.correlationId };
}

function answered(r: Awaited<ReturnType<typeof run>>): { body: Record<string, unknown>; correlationId: number } {
  if ('closed' in r) assert.fail(`closed instead of answering: ${r.closed}`);
  return r;
}

interface FakeCluster {
  anyConnection(): Promise<{ send(apiKey: number, version: number, body: unknown): Promise<unknown> }>;
}

/** A proxy context with only what InitProducerId uses; each cluster is down or issues `pid`. */
function contextWith(clusters: Record<Cluster, 'down' | bigint>, defaultCluster: Cluster = 'source'): { px: ProxyContext; asked: { cluster: Cluster; producerId: bigint }[] } {
  const asked: { cluster: Cluster; producerId: bigint }[] = [];
  const fake = (name: Cluster): FakeCluster => ({
    anyConnection: async () => {
      const state = clusters[name];
      if (state === 'down') throw new Error(`${name} cluster unreachable: connect ECONNREFUSED`);
      return {
        send: async (_k, _v, body) => {
          asked.push({ cluster: name, producerId: (body as { producerId: bigint }).producerId });
          return { throttleTimeMs: 0, errorCode: 0, producerId: state, producerEpoch: 0, ongoingTxnProducerId: -1n, ongoingTxnProducerEpoch: -1 };
        },
      };
    },
  });
  const producerIds = new ProducerIdMap({ defaultCluster, allocate: async () => assert.fail('no allocation here') });
  // The handler reads clusters, producerIds and defaultCluster only.
  const px = { log, clusters: { source: fake('source'), target: fake('target') }, producerIds, defaultCluster } as unknown as ProxyContext;
  return { px, asked };
}

const initRequest = (producerId = -1n, transactionalId: string | null = null) =>
  ({ ...defaultInitProducerIdRequest(), transactionalId, transactionTimeoutMs: 60_000, producerId, producerEpoch: producerId < 0n ? -1 : 3 });

test('InitProducerId error answers encode at every version', async () => {
  const versions = versionsToTry(ApiKey.InitProducerId);
  assert.ok(versions.includes(4) && versions.includes(6));
  const down = initProducerIdHandler(contextWith({ source: 'down', target: 'down' }).px);
  for (const v of versions) {
    const none = answered(await run(down, ApiKey.InitProducerId, v, initRequest()));
    assert.equal(none.correlationId, 77);
    assert.deepEqual([none.body.errorCode, none.body.producerId, none.body.producerEpoch], [15, -1n, -1], `v${v}: COORDINATOR_NOT_AVAILABLE, no pid`);
    const txn = answered(await run(down, ApiKey.InitProducerId, v, initRequest(-1n, 'tx-1')));
    assert.equal(txn.body.errorCode, 53, `v${v}: TRANSACTIONAL_ID_AUTHORIZATION_FAILED`);
  }
});

test('InitProducerId while the default cluster is down: the pid comes from the other cluster, marked as its own', async () => {
  const { px, asked } = contextWith({ source: 'down', target: 4242n });
  const handler = initProducerIdHandler(px);
  for (const v of versionsToTry(ApiKey.InitProducerId)) {
    const r = answered(await run(handler, ApiKey.InitProducerId, v, initRequest()));
    assert.equal(r.body.errorCode, 0);
    assert.equal(r.body.producerId, 4242n | ISSUED_BY_OTHER_CLUSTER, `v${v}`);
  }
  // The map reads the issuer from the pid: unchanged pid on the target (only the marker is removed), a fresh one elsewhere.
  const clientPid = 4242n | ISSUED_BY_OTHER_CLUSTER;
  assert.deepEqual(px.producerIds.issuerOf(clientPid), { cluster: 'target', producerId: 4242n });
  assert.deepEqual(px.producerIds.lookup('t', { producerId: clientPid, producerEpoch: 0 }, 'target', 0), { producerId: 4242n, producerEpoch: 0 });
  // An epoch bump of that producer goes to the target, under the target's pid.
  asked.length = 0;
  const bump = answered(await run(handler, ApiKey.InitProducerId, 4, initRequest(clientPid)));
  assert.deepEqual(asked, [{ cluster: 'target', producerId: 4242n }]);
  assert.equal(bump.body.producerId, clientPid);
});

test('InitProducerId with both clusters up: the default cluster issues, and its pid is used as is', async () => {
  const { px, asked } = contextWith({ source: 7n, target: 8n });
  const r = answered(await run(initProducerIdHandler(px), ApiKey.InitProducerId, 5, initRequest()));
  assert.equal(r.body.producerId, 7n);
  assert.deepEqual(asked.map((a) => a.cluster), ['source']);
  assert.equal(px.producerIds.lookup('t', { producerId: 7n, producerEpoch: 0 }, 'source', 0), null);
  // An epoch bump whose issuer is down gets a fresh pid from the cluster that is up.
  const { px: px2, asked: asked2 } = contextWith({ source: 9n, target: 'down' });
  const bumped = answered(await run(initProducerIdHandler(px2), ApiKey.InitProducerId, 4, initRequest(5n | ISSUED_BY_OTHER_CLUSTER)));
  assert.deepEqual(asked2, [{ cluster: 'source', producerId: -1n }]);
  assert.equal(bumped.body.producerId, 9n);
});

test('FindCoordinator error answers encode at every version, for groups and transactions', async () => {
  const handler = findCoordinatorHandler();
  for (const v of versionsToTry(ApiKey.FindCoordinator)) {
    for (const keyType of v === 0 ? [0] : [0, 1]) { // v0 has no key type (groups only)
      const req = { ...defaultFindCoordinatorRequest(), keyType, key: v < 4 ? 'g1' : '', coordinatorKeys: v >= 4 ? ['g1', 'g2'] : [] };
      const r = answered(await run(handler, ApiKey.FindCoordinator, v, req));
      const expected = keyType === 1 ? 53 : 15;
      if (v >= 4) {
        const coordinators = r.body.coordinators as { key: string; errorCode: number }[];
        assert.deepEqual(coordinators.map((c) => [c.key, c.errorCode]), [['g1', expected], ['g2', expected]], `v${v}`);
      } else {
        assert.equal(r.body.errorCode, expected, `v${v}`);
      }
    }
  }
});

test('ApiVersions at an unknown version: the KIP-511 v0 answer encodes', async () => {
  const handler = apiVersionsHandler(() => advertisedApis([null, null]));
  const frame = Buffer.alloc(10);
  frame.writeInt16BE(ApiKey.ApiVersions, 0);
  frame.writeInt16BE(99, 2);
  frame.writeInt32BE(5, 4);
  frame.writeInt16BE(-1, 8);
  let sent: Buffer[] = [];
  const connection = { auth: null } as unknown as RequestContext['connection'];
  await handler({ header: { requestApiKey: ApiKey.ApiVersions, requestApiVersion: 99, correlationId: 5, clientId: null }, frame, bodyOffset: 10, connection }, { send: (c) => (sent = c), none: () => {}, close: () => {} });
  const r = decodeResponse(Buffer.concat(sent).subarray(4), ApiKey.ApiVersions, 0);
  assert.equal((r.body as unknown as { errorCode: number }).errorCode, 35);
});

test('the dispatcher\'s refusals encode at every version of every API it does not serve', async () => {
  const px = { acceptsVersion: () => true, log } as unknown as ProxyContext; // the refusal path reads nothing else
  const dispatch = createDispatcher(px, () => advertisedApis([null, null]));
  const served = new Set<number>([ApiKey.ApiVersions, ApiKey.Metadata, ApiKey.Produce, ApiKey.InitProducerId, ApiKey.FindCoordinator, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate]);
  let answers = 0;
  for (const schema of MESSAGE_SCHEMAS.filter((s) => s.type === 'request' && s.apiKey !== null && !served.has(s.apiKey))) {
    const apiKey = schema.apiKey as number;
    for (const v of versionsOf(schema)) {
      const r = await run(dispatch(apiKey), apiKey, v, defaultMessage(schema) as unknown as RequestBody);
      if ('closed' in r) continue; // a format without a top-level error code: closing is the answer
      answers++;
      assert.notEqual(r.body.errorCode, 0, `${schema.name} v${v}`);
    }
  }
  assert.ok(answers > 10, `answered with errors ${answers} times`);
});
