// A hook a participant runs around its part of a move (participant.ts), for concerns of the data path that must
// settle before the barrier holds and act between the coordinator's commit and the switch — today the
// transactions of src/transactions/transaction-flip-guard.ts. Plain types only: routing/ never imports src/.

import type { Cluster } from './cluster.ts';

export interface MoveHookInput {
  /** Names the move in messages, e.g. `flip of batch "wave-1"`. */
  readonly label: string;
  readonly from: Cluster;
  readonly to: Cluster;
  /** Topics listed by the move. */
  readonly topics: readonly string[];
  /** Whether the move changes the cluster of a topic (listed or matched). */
  readonly moving: (topic: string) => boolean;
  /** Aborted when the coordinator cancels the move. */
  readonly signal: AbortSignal;
  /** The move's id, the same on every member (fleet guards agree on it through the control topics). */
  readonly moveId?: string;
}

export interface MoveGuard {
  /**
   * Runs after the coordinator committed the new version and before this member installs it, while the
   * barrier still holds the topics. Must not throw: the version is durable, the switch happens regardless.
   */
  beforeSwitch?(): Promise<void>;
  /** The move ended (committed, aborted or failed): let go of whatever the guard held. Called exactly once. */
  release(committed: boolean): void;
}

/**
 * Runs before the barrier holds anything. Resolves to a guard (or null when the move does not concern it);
 * rejects to refuse the move on this member (reported as prepare-failed: nothing was held, nothing switches).
 */
export type BeforeHoldHook = (move: MoveHookInput) => Promise<MoveGuard | null>;
