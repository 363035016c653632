// A participant refuses (blocks) a topic whose move's prepare it has read but does not hold yet, or whose prepare
// failed here before the decision arrived (routing/participant.ts blocks()): found by the fleet simulation, where
// a member back from a partition forwarded on the old route while a move that had not asked it committed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { CutoverBarrier } from '../../routing/cutover-barrier.ts';
import type { ParticipantMessage, PrepareMessage } from '../../routing/move-protocol.ts';
import { MoveParticipant } from '../../routing/participant.ts';
import { emptyRouteState, type RouteChange } from '../../routing/route-state.ts';
import { compileRules } from '../../routing/rules.ts';
import { SwitchTable } from '../../routing/switch-table.ts';
import type { WarmUpReport } from '../../routing/warm-up.ts';

const rules = compileRules({ default: 'source', batches: { 'wave-1': { topics: ['orders'] }, 'wave-2': { topics: ['logs'] } } });
const flipWave1: RouteChange[] = [{ kind: 'batch', name: 'wave-1', before: 'source', after: 'target' }];

const prepare = (moveId: string): PrepareMessage => ({
  type: 'prepare', moveId, label: 'flip of batch "wave-1"', changes: flipWave1, from: 'source', to: 'target', topics: ['orders'],
  holdMatching: false, partitions: [{ topic: 'orders', partitions: [0] }], timeoutMs: 1_000, maxHeldRequests: 10, inDoubt: 'abort',
});

function member(warmUp?: () => Promise<void>) {
  const table = new SwitchTable(rules, emptyRouteState());
  const barrier = new CutoverBarrier({ routeOf: (topic) => table.resolve(topic).cluster, quarantineMs: 0 });
  const sent: ParticipantMessage[] = [];
  const participant = new MoveParticipant({
    member: 'kmp-a', table, barrier, send: (m) => sent.push(m), onFirstOffset: () => undefined,
    ...(warmUp !== undefined ? { warmUp: async (): Promise<WarmUpReport> => { await warmUp(); return { ms: 0, topics: 0, connections: 0, producerIds: 0, notes: [] }; } } : {}),
  });
  return { table, barrier, participant, sent };
}

describe('participant blocks()', () => {
  it('blocks the moving topics from the prepare until the hold starts, then the barrier holds them', async () => {
    let warmed = (): void => undefined;
    const warming = new Promise<void>((r) => (warmed = r));
    const { participant, barrier, sent } = member(() => warming);
    assert.equal(participant.blocks('orders'), false);
    participant.handle(prepare('m-1'));
    assert.equal(participant.blocks('orders'), true, 'prepare read, warm-up running: not held yet');
    assert.equal(participant.blocks('logs'), false, 'other topics are not affected');
    warmed();
    for (let i = 0; i < 10 && sent.length === 0; i++) await tick();
    assert.equal(sent[0]?.type, 'prepared');
    assert.equal(participant.blocks('orders'), false, 'held by the barrier now');
    assert.ok(barrier.admit('orders', 0) instanceof Promise, 'the barrier holds new writes');
    participant.handle({ type: 'abort', moveId: 'm-1', reason: 'test' });
    for (let i = 0; i < 10 && sent.length < 2; i++) await tick();
    assert.equal(participant.blocks('orders'), false);
  });

  it('a member the coordinator asked is not blocked before its hold (the move waits for its prepared); one not asked is', async () => {
    let warmed = (): void => undefined;
    const warming = new Promise<void>((r) => (warmed = r));
    const asked = member(() => warming);
    asked.participant.handle({ ...prepare('m-4'), asked: ['kmp-a', 'kmp-b'] });
    assert.equal(asked.participant.blocks('orders'), false, 'asked: writes flow during the warm-up (open transactions can finish)');
    const notAsked = member(() => warming);
    notAsked.participant.handle({ ...prepare('m-5'), asked: ['kmp-b'] });
    assert.equal(notAsked.participant.blocks('orders'), true, 'not asked: the move may commit without this member');
    warmed();
    for (let i = 0; i < 10 && asked.sent.length === 0; i++) await tick();
    assert.equal(asked.sent[0]?.type, 'prepared');
    asked.participant.handle({ type: 'abort', moveId: 'm-4', reason: 'test' });
    notAsked.participant.handle({ type: 'abort', moveId: 'm-5', reason: 'test' });
  });

  it('a prepare that failed here keeps its topics blocked until the decision arrives', async () => {
    const { participant, barrier, sent } = member();
    // Another move holds orders on this member: the prepare fails here as a conflicting move.
    const other = barrier.move({ topics: ['orders'], partitionsOf: () => [0], from: 'source', to: 'target', timeoutMs: 1_000, maxHeldRequests: 10,
      inDoubt: 'abort', label: 'another move', commit: () => new Promise<number>(() => undefined) });
    other.catch(() => undefined);
    participant.handle(prepare('m-2'));
    for (let i = 0; i < 10 && sent.length === 0; i++) await tick();
    assert.equal(sent[0]?.type, 'prepare-failed');
    assert.deepEqual(participant.undecided(), ['m-2']);
    assert.equal(participant.blocks('orders'), true, 'the move may still commit without this member');
    participant.handle({ type: 'abort', moveId: 'm-2', reason: 'a member could not prepare' });
    assert.equal(participant.blocks('orders'), false);
    assert.deepEqual(participant.undecided(), []);
  });

  it('a failed prepare whose move committed elsewhere is unblocked by the commit, which installs the route', async () => {
    const { participant, barrier, table, sent } = member();
    const other = barrier.move({ topics: ['orders'], partitionsOf: () => [0], from: 'source', to: 'target', timeoutMs: 50, maxHeldRequests: 10,
      inDoubt: 'abort', label: 'another move', commit: () => new Promise<number>(() => undefined) });
    other.catch(() => undefined);
    participant.handle(prepare('m-3'));
    for (let i = 0; i < 10 && sent.length === 0; i++) await tick();
    assert.equal(participant.blocks('orders'), true);
    participant.handle({ type: 'commit', moveId: 'm-3', version: 1, changes: flipWave1 });
    assert.equal(participant.blocks('orders'), false);
    assert.equal(table.resolve('orders').cluster, 'target');
  });
});
