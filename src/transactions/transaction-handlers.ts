// The client-facing transaction APIs: InitProducerId with a transactional id, AddPartitionsToTxn (v0-3),
// AddOffsetsToTxn, EndTxn (v0-4), TxnOffsetCommit, and FindCoordinator. Each checks the client's producer id and
// epoch against what kmp gave out, maps them to the ids kmp holds on the id's home cluster, and forwards to the
// home's coordinator. Handlers return at once and answer later (the connection keeps answers in order), so a
// transaction start held by a flip does not stop the connection from reading.
//
// Errors kmp itself answers are chosen by how clients treat them (docs/transactions.md §errors):
// TRANSACTION_ABORTABLE for a partition kmp will not add (routed to another cluster than the home): Java treats it
// (and any per-partition code but INVALID_TXN_STATE / TRANSACTIONAL_ID_AUTHORIZATION_FAILED) as abortable,
// librdkafka ≥ 2 as a permanent (abortable) transaction error, kafkajs throws it from send() and its abort()
// needs no EndTxn when nothing was added.
//
// In a fleet only the id's owner (transaction-ownership.ts) serves InitProducerId, AddPartitionsToTxn,
// AddOffsetsToTxn and EndTxn; another member answers NOT_COORDINATOR, which every client treats as "look the
// coordinator up again". TxnOffsetCommit goes to the *group* coordinator the client found: FindCoordinator(GROUP)
// names the owner of the id that commits that group's offsets when kmp knows it, and any member that knows the
// id's shared state may serve it (it only maps ids and forwards).
import { Reader } from '../../protocol/reader.ts';
import { ApiKey, decodeRequestBody } from '../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../protocol/codec.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { defaultAddPartitionsToTxnResponse } from '../../protocol/messages/add-partitions-to-txn-response.ts';
import { defaultAddOffsetsToTxnResponse } from '../../protocol/messages/add-offsets-to-txn-response.ts';
import { defaultEndTxnResponse } from '../../protocol/messages/end-txn-response.ts';
import { defaultTxnOffsetCommitResponse, type TxnOffsetCommitResponse } from '../../protocol/messages/txn-offset-commit-response.ts';
import { defaultCoordinator, defaultFindCoordinatorResponse } from '../../protocol/messages/find-coordinator-response.ts';
import type { Cluster } from '../../routing/cluster.ts';
import type { Handler, RequestContext, Responder } from '../proxy/handler.ts';
import type { ProxyNode } from '../proxy/proxy-context.ts';
import { initProducerIdAnswer } from '../proxy/handlers/init-producer-id.ts';
import type { TransactionRouter } from './transaction-router.ts';
import type { TransactionFlipGuard } from './transaction-flip-guard.ts';
import { CoordinatorKeyType } from './transaction-upstream.ts';
import { coordinatorKey } from './transaction-ownership.ts';
import type { TransactionalProducer } from './transactional-producer.ts';

export interface TransactionHandlers {
  initProducerId: (ctx: RequestContext, respond: Responder, transactionalId: string, timeoutMs: number, client: { producerId: bigint; producerEpoch: number } | null) => void;
  addPartitionsToTxn: Handler;
  addOffsetsToTxn: Handler;
  endTxn: Handler;
  txnOffsetCommit: Handler;
  findCoordinator: (nodes: () => readonly ProxyNode[]) => Handler;
}

/** Why kmp answers with an error of its own; logged with the request. */
function crossClusterMessage(topic: string, cluster: Cluster, home: Cluster, id: string): string {
  return `kmp: topic ${topic} is routed to ${cluster} but transactional id "${id}" runs its transactions on ${home}; a transaction never spans two clusters: abort it and write ${topic} in a transaction of its own`;
}

function fenceError(version: number, apiMinVersionForFenced: number): number {
  // PRODUCER_FENCED exists from Kafka 2.7; older request versions get the code brokers sent them then.
  return version >= apiMinVersionForFenced ? ErrorCode.PRODUCER_FENCED : ErrorCode.INVALID_PRODUCER_EPOCH;
}

/** The client's pid/epoch against what kmp gave out: null when they match, else the error to answer. */
function checkIds(p: TransactionalProducer | undefined, producerId: bigint, producerEpoch: number, fenced: number): number | null {
  if (p === undefined || p.clientProducerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
  if (p.clientEpoch !== producerEpoch) return fenced;
  return null;
}

function failed(ctx: RequestContext, err: unknown, what: string): void {
  ctx.connection.log.warn({ err: err instanceof Error ? err.message : String(err), api: what }, 'transaction request: upstream failed');
}

export function createTransactionHandlers(router: TransactionRouter, guard: TransactionFlipGuard): TransactionHandlers {
  const initProducerId: TransactionHandlers['initProducerId'] = (ctx, respond, transactionalId, timeoutMs, client) => {
    const version = ctx.header.requestApiVersion;
    if (!router.owns(transactionalId)) {
      respond.send(initProducerIdAnswer(version, ctx.header.correlationId, { errorCode: ErrorCode.NOT_COORDINATOR, producerId: -1n, producerEpoch: -1 }));
      return;
    }
    router.init(transactionalId, timeoutMs, client, version).then(
      (res) => respond.send(initProducerIdAnswer(version, ctx.header.correlationId, res)),
      (err: unknown) => {
        failed(ctx, err, 'InitProducerId');
        respond.send(initProducerIdAnswer(version, ctx.header.correlationId, { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, producerId: -1n, producerEpoch: -1 }));
      },
    );
  };

  const addPartitionsToTxn: Handler = (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.AddPartitionsToTxn, version, new Reader(ctx.frame, ctx.bodyOffset));
    const id = req.v3AndBelowTransactionalId;
    const answer = (code: (topic: string, partition: number) => number, throttleTimeMs = 0): void => {
      respond.send(encodeResponseFrame(ApiKey.AddPartitionsToTxn, version, ctx.header.correlationId, {
        ...defaultAddPartitionsToTxnResponse(),
        throttleTimeMs,
        resultsByTopicV3AndBelow: req.v3AndBelowTopics.map((t) => ({ name: t.name, resultsByPartition: t.partitions.map((partitionIndex) => ({ partitionIndex, partitionErrorCode: code(t.name, partitionIndex) })) })),
      }));
    };
    if (!router.owns(id)) return answer(() => ErrorCode.NOT_COORDINATOR);
    const p = router.get(id);
    const bad = checkIds(p, req.v3AndBelowProducerId, req.v3AndBelowProducerEpoch, fenceError(version, 2));
    if (bad !== null || p === undefined) return answer(() => bad ?? ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    const topics = req.v3AndBelowTopics.map((t) => t.name);
    let finishStart: (() => void) | null = null;
    const proceed = (): Promise<void> => router.locked(id, async () => {
      if (p.clientEpoch !== req.v3AndBelowProducerEpoch) return answer(() => fenceError(version, 2));
      if (p.abortRequested !== null) {
        ctx.connection.log.warn({ transactionalId: id }, p.abortRequested);
        return answer(() => ErrorCode.TRANSACTION_ABORTABLE);
      }
      const starting = p.state === 'ready';
      const home = router.homeFor(p, topics.map((t) => router.clusterOf(t)));
      if (home !== p.home) await router.rehome(p, home, 'first-add');
      const refused = new Map<string, Cluster>();
      for (const t of topics) {
        const c = router.clusterOf(t);
        if (c !== p.home) refused.set(t, c);
      }
      if (refused.size > 0) {
        router.metrics?.crossClusterRefusals.inc({ api: 'AddPartitionsToTxn' }, req.v3AndBelowTopics.filter((t) => refused.has(t.name)).reduce((n, t) => n + t.partitions.length, 0));
        for (const [t, c] of refused) ctx.connection.log.warn({ transactionalId: id, topic: t }, crossClusterMessage(t, c, p.home, id));
        return answer((t) => (refused.has(t) ? ErrorCode.TRANSACTION_ABORTABLE : ErrorCode.OPERATION_NOT_ATTEMPTED));
      }
      const newlyCoupled = topics.some((t) => !p.coupledTopics.has(t));
      const res = await router.upstream.send(p.home, CoordinatorKeyType.TRANSACTION, id, ApiKey.AddPartitionsToTxn, version, {
        ...req,
        v3AndBelowProducerId: p.upstream.producerId,
        v3AndBelowProducerEpoch: p.upstream.producerEpoch,
      }, (r) => r.resultsByTopicV3AndBelow[0]?.resultsByPartition[0]?.partitionErrorCode ?? ErrorCode.NONE);
      const now = performance.now();
      for (const t of res.resultsByTopicV3AndBelow) for (const r of t.resultsByPartition) if (r.partitionErrorCode === ErrorCode.NONE) p.added(t.name, r.partitionIndex, now);
      ctx.connection.log.debug({ transactionalId: id, home: p.home, state: p.state, partitions: p.partitions.size, upstreamEpoch: p.upstream.producerEpoch }, 'AddPartitionsToTxn answered');
      if (starting && p.state === 'open') {
        router.metrics?.startedOn(p.home);
        router.changed();
      }
      if (newlyCoupled) void router.persist(p).catch(() => undefined);
      respond.send(encodeResponseFrame(ApiKey.AddPartitionsToTxn, version, ctx.header.correlationId, res));
    }).catch((err: unknown) => {
      failed(ctx, err, 'AddPartitionsToTxn');
      answer(() => ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }).finally(() => {
      finishStart?.();
      router.changed();
    });
    // Registered synchronously once past the guard, so a flip that starts while this request is still being
    // served waits for it (and then for the transaction it opens).
    const admitted = (): void => {
      finishStart = p.beginStart(topics);
      void proceed();
    };
    // Released by one flip, the start checks again: another flip may have started meanwhile.
    const tryStart = (): void => {
      const held = guard.holdStart(p, topics);
      if (held === null) admitted();
      else void held.then(tryStart);
    };
    tryStart();
  };

  const addOffsetsToTxn: Handler = (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.AddOffsetsToTxn, version, new Reader(ctx.frame, ctx.bodyOffset));
    const answer = (errorCode: number, throttleTimeMs = 0): void =>
      respond.send(encodeResponseFrame(ApiKey.AddOffsetsToTxn, version, ctx.header.correlationId, { ...defaultAddOffsetsToTxnResponse(), errorCode, throttleTimeMs }));
    if (!router.owns(req.transactionalId)) return answer(ErrorCode.NOT_COORDINATOR);
    const p = router.get(req.transactionalId);
    const bad = checkIds(p, req.producerId, req.producerEpoch, fenceError(version, 2));
    if (bad !== null || p === undefined) return answer(bad ?? ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    void router.locked(req.transactionalId, async () => {
      if (p.abortRequested !== null) {
        ctx.connection.log.warn({ transactionalId: req.transactionalId }, p.abortRequested);
        return answer(ErrorCode.TRANSACTION_ABORTABLE);
      }
      const starting = p.state === 'ready';
      const res = await router.upstream.send(p.home, CoordinatorKeyType.TRANSACTION, req.transactionalId, ApiKey.AddOffsetsToTxn, version, {
        ...req,
        producerId: p.upstream.producerId,
        producerEpoch: p.upstream.producerEpoch,
      }, (r) => r.errorCode);
      if (res.errorCode === ErrorCode.NONE) {
        const first = !p.groups.has(req.groupId);
        p.groups.add(req.groupId);
        p.opened(performance.now());
        if (starting) {
          router.metrics?.startedOn(p.home);
          router.changed();
        }
        if (first) void router.persist(p).catch(() => undefined);
      }
      answer(res.errorCode, res.throttleTimeMs);
    }).catch((err: unknown) => {
      failed(ctx, err, 'AddOffsetsToTxn');
      answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    });
  };

  const endTxn: Handler = (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.EndTxn, version, new Reader(ctx.frame, ctx.bodyOffset));
    const answer = (errorCode: number, throttleTimeMs = 0): void =>
      respond.send(encodeResponseFrame(ApiKey.EndTxn, version, ctx.header.correlationId, { ...defaultEndTxnResponse(), errorCode, throttleTimeMs }));
    if (!router.owns(req.transactionalId)) return answer(ErrorCode.NOT_COORDINATOR);
    const p = router.get(req.transactionalId);
    const bad = checkIds(p, req.producerId, req.producerEpoch, fenceError(version, 2));
    if (bad !== null || p === undefined) return answer(bad ?? ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    void router.locked(req.transactionalId, async () => {
      // Nothing was added: there is nothing to end upstream (clients usually skip EndTxn then). Only this
      // instance's own view can say so: after a restart or a failover a transaction may be open upstream.
      if (p.state === 'ready' && p.stateKnown) {
        ctx.connection.log.debug({ transactionalId: req.transactionalId, committed: req.committed }, 'EndTxn answered by kmp: no transaction open');
        return answer(ErrorCode.NONE);
      }
      const wasOpen = p.state === 'open';
      // A transaction a flip asked to end may still commit: either way it ends on the old cluster, all the flip needs.
      const wasAsked = p.abortRequested !== null;
      p.state = 'ending';
      const home = p.home;
      let res;
      try {
        res = await router.upstream.send(home, CoordinatorKeyType.TRANSACTION, req.transactionalId, ApiKey.EndTxn, version, {
          ...req,
          producerId: p.upstream.producerId,
          producerEpoch: p.upstream.producerEpoch,
        }, (r) => r.errorCode);
      } catch (err) {
        p.state = wasOpen ? 'open' : 'ready';
        throw err;
      }
      if (res.errorCode === ErrorCode.NONE) {
        p.stateKnown = true;
        if (req.committed) p.committed++;
        else p.aborted++;
        router.metrics?.ended.inc({ cluster: home, result: req.committed ? 'committed' : 'aborted' });
        p.ended();
      } else if (res.errorCode === ErrorCode.PRODUCER_FENCED || res.errorCode === ErrorCode.INVALID_PRODUCER_EPOCH) {
        // Whoever fenced the id aborted its transaction upstream: nothing of this client's is open any more.
        p.ended();
      } else {
        p.state = wasOpen ? 'open' : 'ready';
      }
      // In a fleet the leaders refuse the id's batches while the request stands: they must read it withdrawn
      // before the client's next transaction sends any.
      if (wasAsked && p.abortRequested === null) await router.persist(p).catch(() => undefined);
      router.changed();
      ctx.connection.log.debug({ transactionalId: req.transactionalId, committed: req.committed, home, errorCode: res.errorCode }, 'EndTxn answered');
      answer(res.errorCode, res.throttleTimeMs);
    }).catch((err: unknown) => {
      failed(ctx, err, 'EndTxn');
      answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    });
  };

  const txnOffsetCommit: Handler = (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.TxnOffsetCommit, version, new Reader(ctx.frame, ctx.bodyOffset));
    const answer = (errorCode: number): void => {
      const body: TxnOffsetCommitResponse = {
        ...defaultTxnOffsetCommitResponse(),
        topics: req.topics.map((t) => ({ name: t.name, topicId: t.topicId, partitions: t.partitions.map((x) => ({ partitionIndex: x.partitionIndex, errorCode })) })),
      };
      respond.send(encodeResponseFrame(ApiKey.TxnOffsetCommit, version, ctx.header.correlationId, body));
    };
    const p = router.get(req.transactionalId);
    if (p === undefined && !router.owns(req.transactionalId)) return answer(ErrorCode.NOT_COORDINATOR);
    const bad = checkIds(p, req.producerId, req.producerEpoch, fenceError(version, 3));
    if (bad !== null || p === undefined) return answer(bad ?? ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    // To the group coordinator of the home cluster: the offsets commit with the transaction that runs there.
    // Only the owner writes the id's state (AddOffsetsToTxn already taught it the group).
    if (!p.groups.has(req.groupId) && router.owns(req.transactionalId)) {
      p.groups.add(req.groupId);
      void router.persist(p).catch(() => undefined);
    }
    router.upstream.send(p.home, CoordinatorKeyType.GROUP, req.groupId, ApiKey.TxnOffsetCommit, version, {
      ...req,
      producerId: p.upstream.producerId,
      producerEpoch: p.upstream.producerEpoch,
    }, (r) => r.topics[0]?.partitions[0]?.errorCode ?? ErrorCode.NONE).then(
      (res) => respond.send(encodeResponseFrame(ApiKey.TxnOffsetCommit, version, ctx.header.correlationId, res)),
      (err: unknown) => {
        failed(ctx, err, 'TxnOffsetCommit');
        answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      },
    );
  };

  const groupCommitter = (group: string): string | undefined => {
    for (const p of router.all()) if (p.groups.has(group)) return p.transactionalId;
    return undefined;
  };

  const findCoordinator = (nodes: () => readonly ProxyNode[]): Handler => (ctx, respond) => {
    const version = ctx.header.requestApiVersion;
    const req = decodeRequestBody(ApiKey.FindCoordinator, version, new Reader(ctx.frame, ctx.bodyOffset));
    const listed = ctx.connection.advertisedNodes ?? nodes();
    const keys = version >= 4 ? req.coordinatorKeys : [req.key];
    const body = defaultFindCoordinatorResponse();
    const served = req.keyType === CoordinatorKeyType.TRANSACTION || req.keyType === CoordinatorKeyType.GROUP;
    const nodeFor = (key: string): ProxyNode | null => {
      if (!served) return null;
      // A group whose offsets a transactional id commits: its owner, which knows the id first-hand.
      const committer = req.keyType === CoordinatorKeyType.GROUP && router.ownership.shared ? groupCommitter(key) : undefined;
      return router.ownership.nodeFor(committer === undefined ? coordinatorKey(req.keyType, key) : coordinatorKey(CoordinatorKeyType.TRANSACTION, committer), listed);
    };
    const entry = (key: string) => {
      const n = nodeFor(key);
      return n === null
        ? { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `kmp coordinates transactions and their groups only (key type ${req.keyType})`, nodeId: -1, host: '', port: -1 }
        : { errorCode: ErrorCode.NONE, errorMessage: null, nodeId: n.nodeId, host: n.host, port: n.port };
    };
    if (version >= 4) body.coordinators = keys.map((key) => ({ ...defaultCoordinator(), key, ...entry(key) }));
    else Object.assign(body, entry(req.key));
    respond.send(encodeResponseFrame(ApiKey.FindCoordinator, version, ctx.header.correlationId, body));
  };

  return { initProducerId, addPartitionsToTxn, addOffsetsToTxn, endTxn, txnOffsetCommit, findCoordinator };
}
