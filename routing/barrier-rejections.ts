// The barrier's answers that turn a Produce partition away (always the retriable NOT_LEADER_OR_FOLLOWER, with why
// in `reason` for metrics and logs), frozen and shared so the admission path allocates nothing; and the real timer
// the barrier uses unless a test or the simulation (test/sim/) passes its own clock.
import { ErrorCode } from '../protocol/kafka-errors.ts';
import type { Rejection, RejectionReason } from './barrier-contract.ts';

function rejection(reason: RejectionReason): Rejection {
  return Object.freeze({ reject: 'NOT_LEADER_OR_FOLLOWER', errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, reason });
}
export const REJECT_HELD_LIMIT = rejection('held-limit');
export const REJECT_FAILED_DRAIN = rejection('failed-drain');
export const REJECT_QUARANTINE = rejection('quarantine');
export const REJECT_ROUTE_MISMATCH = rejection('route-mismatch');

export function realTimer(callback: () => void, delayMs: number): () => void {
  const timer = setTimeout(callback, delayMs);
  return () => clearTimeout(timer);
}
