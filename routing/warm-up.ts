// The warm-up a participant runs before it holds anything (issue #16 item 1): everything a write to the new
// cluster needs is made ready while producers still write to the old one, so that the requests the hold
// releases go straight to a ready upstream — no metadata miss answered LEADER_NOT_AVAILABLE, no connection being
// opened, no producer id being fetched while the client waits. The routing layer only says *what* to warm; src/
// (src/proxy/warm-up.ts) knows the clusters and does it. A warm-up that fails fails the move before its hold:
// the route is unchanged and no producer noticed anything.

import type { Cluster } from './cluster.ts';
import { RoutingError, RoutingErrorCode } from './errors.ts';

export interface WarmUpRequest {
  /** Names the move in messages. */
  readonly label: string;
  readonly from: Cluster;
  readonly to: Cluster;
  /**
   * The topics the move will hold (listed, plus the known topics a prefix/pattern batch matches), each with the
   * partition generation the move creates (the barrier's generation + 1): upstream producer ids are allocated
   * per (client pid, epoch, cluster, generation), so those are the ones the released writes will ask for.
   */
  readonly topics: readonly { readonly topic: string; readonly generation: number }[];
  /** Aborted when the warm-up's bound passed or the move was cancelled. */
  readonly signal: AbortSignal;
  /**
   * Registers something that may explain a warm-up running out of time (write-back: the copy's lag on a move to
   * the source); a warm-up that times out appends every non-null answer to its message, so the operator sees why.
   */
  readonly explain?: (why: () => string | null) => void;
}

/** What the warm-up made ready (for the move's answer). */
export interface WarmUpReport {
  readonly ms: number;
  /** Topics whose metadata was fetched fresh from `to`. */
  readonly topics: number;
  /** Upstream connections ready (leaders × pooled lanes). */
  readonly connections: number;
  /** Upstream producer ids allocated (or already there) for the producers seen writing the topics. */
  readonly producerIds: number;
  /** Worth knowing, not blocking (e.g. a topic that does not exist on `to`: pre-flight decides about that). */
  readonly notes: readonly string[];
}

export type WarmUp = (request: WarmUpRequest) => Promise<WarmUpReport>;

/** 503: the new side could not be made ready; nothing was held, the route did not change. */
export class WarmUpError extends RoutingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(RoutingErrorCode.WARM_UP_FAILED, 503, message, options);
  }
}
