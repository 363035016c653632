// Randomized interleavings of admit / complete / abandon / move / commit / cancel against the cutover barrier.
// Invariants, checked every time the test sees a new ticket:
// - a partition never has tickets in flight on both clusters at once;
// - one (topic, generation) always means one cluster (the data path picks upstream pids by it);
// - a ticket goes where the route pointed when it was issued.
// And at the end, once everything is completed: nothing held, nothing in flight, every admission answered.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import type { Cluster } from '../../routing/cluster.ts';
import { CutoverBarrier, isRejection, type Admission, type Ticket } from '../../routing/cutover-barrier.ts';
import { RouteConflictError } from '../../routing/errors.ts';

const TOPICS = ['a', 'b', 'c'] as const;

type Command =
  | { readonly kind: 'admit'; readonly topic: number; readonly partition: number }
  | { readonly kind: 'complete'; readonly pick: number; readonly outcome: 'ok' | 'no' | 'unknown' }
  | { readonly kind: 'abandon'; readonly pick: number }
  | { readonly kind: 'move'; readonly topics: readonly number[]; readonly slowCommit: boolean; readonly inDoubt: 'abort' | 'reject'; readonly maxHeld: number }
  | { readonly kind: 'finishCommit'; readonly fail: boolean }
  | { readonly kind: 'cancel' }
  | { readonly kind: 'tick' };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('admit' as const), topic: fc.nat(TOPICS.length - 1), partition: fc.nat(1) }) },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('complete' as const), pick: fc.nat(), outcome: fc.constantFrom('ok' as const, 'ok' as const, 'no' as const, 'unknown' as const) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abandon' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('move' as const),
      topics: fc.uniqueArray(fc.nat(TOPICS.length - 1), { minLength: 1, maxLength: 2 }),
      slowCommit: fc.boolean(),
      inDoubt: fc.constantFrom('abort' as const, 'reject' as const),
      maxHeld: fc.integer({ min: 0, max: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('finishCommit' as const), fail: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'tick' as const }) },
);

interface Deferred {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

async function run(commands: readonly Command[]): Promise<void> {
  const routes = new Map<string, Cluster>();
  const routeOf = (topic: string): Cluster => routes.get(topic) ?? 'source';
  const barrier = new CutoverBarrier({ routeOf, quarantineMs: 0 });
  const live: Ticket[] = [];
  const generationCluster = new Map<string, Cluster>();
  const commits: Deferred[] = [];
  const moves: { controller: AbortController; done: Promise<unknown> }[] = [];
  let unanswered = 0;
  // Violations seen inside promise callbacks are rethrown at the end (they would otherwise be lost).
  let violation: unknown = null;

  const observe = (ticket: Ticket): void => {
    for (const other of live) {
      if (other.topic === ticket.topic && other.partition === ticket.partition) {
        assert.equal(other.cluster, ticket.cluster, `${ticket.topic}[${ticket.partition}] in flight on ${other.cluster} and ${ticket.cluster}`);
      }
    }
    const key = `${ticket.topic}/${ticket.generation}`;
    const seen = generationCluster.get(key);
    if (seen === undefined) generationCluster.set(key, ticket.cluster);
    else assert.equal(seen, ticket.cluster, `generation ${ticket.generation} of ${ticket.topic} used on two clusters`);
    assert.equal(ticket.cluster, routeOf(ticket.topic), 'a ticket goes where the route points');
    live.push(ticket);
  };

  const accept = (admission: Admission): void => {
    if (!isRejection(admission)) observe(admission);
  };

  const settle = (index: number, outcome: 'ok' | 'no' | 'unknown' | 'abandon'): void => {
    const [ticket] = live.splice(index, 1);
    if (ticket === undefined) return;
    if (outcome === 'abandon') barrier.abandon(ticket);
    else if (outcome === 'ok') barrier.complete(ticket, { ok: true, baseOffset: 1n });
    else barrier.complete(ticket, { ok: false, retriable: true, errorCode: outcome === 'no' ? 6 : 7, written: outcome });
  };

  for (const c of commands) {
    switch (c.kind) {
      case 'admit': {
        const admission = barrier.admit(TOPICS[c.topic] ?? 'a', c.partition);
        if (admission instanceof Promise) {
          unanswered += 1;
          void admission.then((a) => {
            unanswered -= 1;
            try {
              accept(a);
            } catch (error) {
              violation ??= error;
            }
          });
        } else {
          accept(admission);
        }
        break;
      }
      case 'complete':
        if (live.length > 0) settle(c.pick % live.length, c.outcome);
        break;
      case 'abandon':
        if (live.length > 0) settle(c.pick % live.length, 'abandon');
        break;
      case 'move': {
        const topics = c.topics.map((i) => TOPICS[i] ?? 'a');
        const from = routeOf(topics[0] ?? 'a');
        const same = topics.filter((t) => routeOf(t) === from);
        const to: Cluster = from === 'source' ? 'target' : 'source';
        const controller = new AbortController();
        const done = barrier
          .move({
            topics: same,
            partitionsOf: () => 'unknown',
            from,
            to,
            timeoutMs: 60_000,
            maxHeldRequests: c.maxHeld,
            inDoubt: c.inDoubt,
            signal: controller.signal,
            commit: async (context) => {
              if (c.slowCommit) await new Promise<void>((resolve, reject) => commits.push({ resolve, reject }));
              for (const topic of context.topics) routes.set(topic, to);
            },
          })
          .catch((error: unknown) => {
            if (error instanceof RouteConflictError || (error instanceof Error && error.message === 'commit failed')) return;
            throw error;
          });
        moves.push({ controller, done });
        break;
      }
      case 'finishCommit': {
        const next = commits.shift();
        if (next !== undefined) {
          if (c.fail) next.reject(new Error('commit failed'));
          else next.resolve();
        }
        break;
      }
      case 'cancel':
        moves.find((m) => !m.controller.signal.aborted)?.controller.abort();
        break;
      case 'tick':
        await tick();
        break;
    }
    if (violation !== null) throw violation;
  }

  // Wind down: answer everything until no move is left.
  for (let round = 0; round < 1_000 && (live.length > 0 || commits.length > 0 || barrier.activeMoves().length > 0 || unanswered > 0); round++) {
    while (live.length > 0) settle(0, 'ok');
    for (const d of commits.splice(0)) d.resolve();
    await tick();
  }
  await Promise.all(moves.map((m) => m.done));
  if (violation !== null) throw violation;
  assert.equal(barrier.activeMoves().length, 0);
  assert.equal(barrier.heldNow, 0);
  assert.equal(unanswered, 0, 'every held admission was answered');
  assert.equal(barrier.inFlight, 0);
}

describe('cutover barrier: randomized interleavings', () => {
  it('never lets a partition be in flight on both clusters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 120, size: 'max' }), async (commands) => {
        await run(commands);
      }),
      { numRuns: 500 },
    );
  });
});
