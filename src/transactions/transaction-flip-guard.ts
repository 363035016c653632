// Moves of topics that transactional ids write, between transactions (docs/transactions.md §flip):
// 1 pre-flight: a wave that would leave an id's topics on two clusters ("splits a transaction group"), or moves
//   the topics of an id that commits consumer offsets (consume-transform-produce), is refused unless forced;
// 2 before the barrier holds: the start of a new transaction on a moving topic is held (AddPartitionsToTxn /
//   AddOffsetsToTxn wait); transactions already open finish on the old cluster; the flip waits until none of
//   them is open and the old cluster's last stable offset has reached the log end on every moving topic that
//   carries transactions (the markers are written broker to broker, so kmp reads the partitions), bounded by
//   `flip.transactionDrainMs` — past it the flip aborts, naming the ids, and the route stays;
// 3 after the coordinator committed and before the switch: every id whose topics all moved is initialised on the
//   new cluster, persisted, and fenced on the old one;
// In a fleet every member runs steps 2-4 for the ids it owns (their starts reach it alone), and the last stable
// offsets on every member; the move commits only once all have drained.
// 4 release: the held starts continue, now under the new routes.
import type { Cluster } from '../../routing/cluster.ts';
import { RoutingError, RoutingErrorCode } from '../../routing/errors.ts';
import type { MoveGuard, MoveHookInput } from '../../routing/move-hooks.ts';
import type { PreflightResult } from '../../routing/operations.ts';
import type { TransactionRouter } from './transaction-router.ts';
import type { TransactionalProducer } from './transactional-producer.ts';

interface ActiveFlip {
  readonly label: string;
  readonly moving: (topic: string) => boolean;
  readonly released: Promise<void>;
}

/**
 * A fleet member's side of the drain agreement: each member announces when it has drained the ids it owns, and
 * none holds a moving partition before every live member has — the data of a transaction still open on its
 * owner goes through the partitions' leaders, which must not hold it yet (src/fleet/transaction-log.ts).
 */
export interface FleetDrain {
  readonly member: string;
  live(): readonly string[];
  announce(moveId: string): Promise<void>;
  drained(moveId: string): ReadonlySet<string>;
  onDrained(listener: () => void): () => void;
}

export interface FlipGuardOptions {
  /** How long a flip waits for open transactions (and last stable offsets). */
  drainMs: number;
  /**
   * At the bound: abort the flip (default), or ask the open transactions to end — their next Produce,
   * AddPartitionsToTxn or AddOffsetsToTxn gets TRANSACTION_ABORTABLE, which every client answers by aborting —
   * and wait `drainMs` more for them.
   */
  atBound?: 'abort-flip' | 'abort-transactions';
  /** Poll interval of the last-stable-offset check. Default 50 ms. */
  pollMs?: number;
  /** Set in a fleet. */
  fleet?: FleetDrain | null;
}

/** The figures of the last flips (newest last), for tests and the report. */
export interface FlipWait {
  label: string;
  waitedMs: number;
  waitedFor: string[];
  /** ok: drained and switched; move-aborted: drained, then the move failed elsewhere (barrier, store). */
  outcome: 'ok' | 'move-aborted' | 'timeout' | 'cancelled' | 'error';
  rehomed: string[];
}

export class TransactionFlipGuard {
  readonly #router: TransactionRouter;
  readonly #drainMs: number;
  readonly #pollMs: number;
  readonly #active = new Set<ActiveFlip>();
  readonly #fleet: FleetDrain | null;
  readonly #atBound: 'abort-flip' | 'abort-transactions';
  readonly history: FlipWait[] = [];

  constructor(router: TransactionRouter, options: FlipGuardOptions) {
    this.#router = router;
    this.#drainMs = options.drainMs;
    this.#pollMs = options.pollMs ?? 50;
    this.#fleet = options.fleet ?? null;
    this.#atBound = options.atBound ?? 'abort-flip';
  }

  /** The longest a member waits in a flip: twice the bound when open transactions are asked to end at the first. */
  get #waitBoundMs(): number {
    return this.#atBound === 'abort-transactions' ? 2 * this.#drainMs : this.#drainMs;
  }

  /** Pre-flight of a move of `topics` from → to (both directions). */
  async preflight(topics: readonly string[], _from: Cluster, to: Cluster): Promise<PreflightResult> {
    const moving = new Set(topics);
    const refusals: string[] = [];
    for (const p of this.#router.all()) {
      const inWave = [...p.coupledTopics].filter((t) => moving.has(t)).sort();
      if (inWave.length === 0) continue;
      const outside = [...p.coupledTopics].filter((t) => !moving.has(t) && this.#router.clusterOf(t) !== to).sort();
      if (outside.length > 0) {
        refusals.push(`the wave splits a transaction group: transactional id "${p.transactionalId}" writes ${inWave.join(', ')} (in the wave) and ${outside.join(', ')} (outside it) in the same transactions`);
      }
      if (p.commitsOffsets) {
        refusals.push(`transactional id "${p.transactionalId}" commits consumer offsets of group(s) ${[...p.groups].sort().join(', ')} in its transactions (consume-transform-produce): moving its producer alone breaks exactly-once; move the application as a whole (docs/transactions.md), or force`);
      }
    }
    return { refusals, warnings: [] };
  }

  /**
   * Resolves once the start of a transaction that adds `topics` may go ahead: at once unless a flip is moving one
   * of them and the id's open transaction does not already hold a moving topic.
   */
  holdStart(p: TransactionalProducer, topics: readonly string[]): Promise<void> | null {
    let waits: Promise<void>[] | null = null;
    for (const flip of this.#active) {
      const entering = topics.some((t) => flip.moving(t) && !p.topicsInTransaction.has(t));
      const continuing = [...p.topicsInTransaction].some((t) => flip.moving(t));
      if (entering && !continuing) (waits ??= []).push(flip.released);
    }
    if (waits === null) return null;
    this.#router.metrics?.heldStarts.inc();
    this.#router.log.info({ transactionalId: p.transactionalId, topics }, 'transaction start held while a flip moves its topics');
    return Promise.all(waits).then(() => undefined);
  }

  /** The participant's hook (routing/move-hooks.ts). */
  beforeHold = async (move: MoveHookInput): Promise<MoveGuard | null> => {
    let release!: () => void;
    const flip: ActiveFlip = { label: move.label, moving: move.moving, released: new Promise<void>((r) => (release = r)) };
    this.#active.add(flip);
    const done = (): void => {
      if (this.#active.delete(flip)) release();
    };
    const started = performance.now();
    const record = (outcome: FlipWait['outcome'], waitedMs: number, waitedFor: string[], rehomed: string[]): void => {
      this.history.push({ label: move.label, waitedMs, waitedFor, outcome, rehomed });
      if (this.history.length > 100) this.history.shift();
      this.#router.metrics?.flipWaitSeconds.observe({ outcome }, waitedMs / 1000);
    };
    let waitedFor: string[];
    try {
      waitedFor = await this.#drain(move, started);
      await this.#fleetDrained(move, started);
    } catch (err) {
      done();
      record(move.signal.aborted ? 'cancelled' : err instanceof RoutingError ? 'timeout' : 'error', Math.round(performance.now() - started), [], []);
      throw err;
    }
    const waitedMs = Math.round(performance.now() - started);
    const rehomed: string[] = [];
    // In a fleet every member runs this hook; only an id's owner moves it (initialise on the new cluster, fence the
    // old one), so that happens once per id.
    const affected = [...this.#router.all()].filter((p) => this.#router.owns(p.transactionalId) && p.home === move.from && p.coupledTopics.size > 0 && [...p.coupledTopics].every((t) => move.moving(t) || this.#router.clusterOf(t) === move.to));
    return {
      beforeSwitch: async () => {
        await Promise.all(affected.map((p) => this.#router.locked(p.transactionalId, async () => {
          if (p.state !== 'ready' || p.home !== move.from) return;
          try {
            await this.#router.rehome(p, move.to, 'flip');
            rehomed.push(p.transactionalId);
          } catch (err) {
            // The next transaction of the id moves it (first-add), so the flip need not fail for it.
            this.#router.log.warn({ transactionalId: p.transactionalId, err: String(err) }, 'flip: could not move the transactional id now; its next transaction will');
          }
        })));
      },
      release: (committed) => {
        record(committed ? 'ok' : 'move-aborted', waitedMs, waitedFor, rehomed.sort());
        done();
      },
    };
  };

  /** Waits until no open transaction holds a moving topic and the old cluster's markers landed; returns what it waited for. */
  async #drain(move: MoveHookInput, started: number): Promise<string[]> {
    let deadline = started + this.#drainMs;
    let asked = false;
    const waitedFor = new Set<string>();
    // The owner of an id knows its open transaction (it serves every AddPartitionsToTxn and EndTxn of it); the move
    // cannot commit before every member, the owners included, has drained, so each member waits for its own ids.
    const openOnes = (): TransactionalProducer[] => [...this.#router.all()].filter((p) => p.touches(move.moving) && this.#router.owns(p.transactionalId));
    for (;;) {
      const open = openOnes();
      if (open.length === 0) break;
      for (const p of open) waitedFor.add(p.transactionalId);
      if (move.signal.aborted) throw new Error(`${move.label} was cancelled while waiting for open transactions`);
      if (performance.now() >= deadline) {
        const now = performance.now();
        const names = open.map((p) => `"${p.transactionalId}" (open ${Math.round(now - (p.openSince ?? now))} ms on ${p.home})`).join(', ');
        if (this.#atBound === 'abort-transactions' && !asked) {
          asked = true;
          deadline = started + this.#waitBoundMs;
          await this.#askToEnd(move, open);
          continue;
        }
        throw new RoutingError(RoutingErrorCode.FLIP_ABORTED, 503, `${move.label} aborted: transactions still open after flip.transactionDrainMs (${this.#drainMs} ms${asked ? ', then as long again after they were asked to abort' : ''}): ${names}; the route is unchanged. Retry when they have ended, or raise the bound.`);
      }
      await this.#changeOrTimeout(Math.min(this.#pollMs * 4, deadline - performance.now()));
    }
    // Topics that carry transactions: the listed ones kmp saw in a transaction, and every coupled topic that moves.
    const transactional = new Set<string>();
    for (const p of this.#router.all()) for (const t of p.coupledTopics) if (move.moving(t)) transactional.add(t);
    if (transactional.size === 0) return [...waitedFor];
    for (;;) {
      const behind = await this.#router.upstream.unstablePartitions(move.from, [...transactional]);
      if (behind.length === 0) return [...waitedFor];
      if (move.signal.aborted) throw new Error(`${move.label} was cancelled while waiting for transaction markers`);
      if (performance.now() >= deadline) {
        throw new RoutingError(RoutingErrorCode.FLIP_ABORTED, 503, `${move.label} aborted: on ${move.from}, a transaction is still open on ${behind.join(', ')} after flip.transactionDrainMs (${this.#drainMs} ms) (a producer outside kmp, or markers not written yet); the route is unchanged.`);
      }
      await new Promise((r) => setTimeout(r, this.#pollMs));
    }
  }

  /**
   * flip.openTransactionsAtBound 'abort-transactions': the still-open transactions on moving topics get an abortable
   * error on their next request (persisted first, so that in a fleet the partitions' leaders refuse their batches
   * too); a transaction that ends meanwhile, committed or aborted, ends on the old cluster as the flip needs.
   */
  async #askToEnd(move: MoveHookInput, open: readonly TransactionalProducer[]): Promise<void> {
    await Promise.all(open.map(async (p) => {
      p.abortRequested = `${move.label} needs the transaction of "${p.transactionalId}" to end (open longer than flip.transactionDrainMs ${this.#drainMs} ms): abort it and retry it after the flip`;
      this.#router.metrics?.abortsRequested.inc();
      this.#router.log.warn({ transactionalId: p.transactionalId, move: move.label }, 'flip: open transaction asked to abort at the drain bound');
      await this.#router.persist(p).catch((err: unknown) => this.#router.log.warn({ transactionalId: p.transactionalId, err: String(err) }, 'could not persist the abort request'));
    }));
  }

  /**
   * In a fleet: announce that this member drained, then wait until every live member has (bounded by the same
   * deadline). Skipped while no transactional id is known anywhere: a fleet without transactions pays nothing.
   */
  async #fleetDrained(move: MoveHookInput, started: number): Promise<void> {
    const fleet = this.#fleet;
    if (fleet === null || move.moveId === undefined || this.#router.all().next().done === true) return;
    const moveId = move.moveId;
    await fleet.announce(moveId);
    const deadline = started + this.#waitBoundMs;
    for (;;) {
      const done = fleet.drained(moveId);
      const missing = fleet.live().filter((m) => !done.has(m));
      if (missing.length === 0) return;
      if (move.signal.aborted) throw new Error(`${move.label} was cancelled while waiting for the fleet to drain its transactions`);
      if (performance.now() >= deadline) {
        throw new RoutingError(RoutingErrorCode.FLIP_ABORTED, 503, `${move.label} aborted: member(s) ${missing.join(', ')} did not drain the transactions they coordinate within flip.transactionDrainMs (${this.#drainMs} ms); the route is unchanged.`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, Math.max(1, Math.min(this.#pollMs * 4, deadline - performance.now())));
        const off = fleet.onDrained(finish);
        function finish(): void {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    }
  }

  #changeOrTimeout(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, Math.max(ms, 1));
      const off = this.#router.onChange(finish);
      function finish(): void {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  }
}
