// The Produce path's fleet rule (a ProduceConcern, see src/proxy/produce/produce-session.ts): this instance
// forwards a partition only while it leads it and holds its lease.
// - Not the leader (rendezvous over the live members): NOT_LEADER_OR_FOLLOWER, so the client refreshes Metadata
//   and sends to the leader — exactly what a broker answers.
// - A move's prepare read here that does not hold yet (or failed here, decision still to come): the topic could
//   move without this instance's hold, so LEADER_NOT_AVAILABLE for it (routing/participant.ts blocks()).
// - Fenced (lease lapsed, or not yet caught up with the route and move logs): LEADER_NOT_AVAILABLE for every
//   partition. Retriable and a metadata refresh too; by the time the others count this instance gone, its
//   partitions have a new leader. Every partition is refused, since any of them could move without this
//   instance's acknowledgement once the coordinator counts it gone.
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { ProduceConcern } from '../proxy/produce/produce-session.ts';
import type { PartitionWrite } from '../proxy/produce/partition-write.ts';
import type { Membership } from './membership.ts';

export function leadershipConcern(membership: Membership, blocksProduce: (topic: string) => boolean = () => false): ProduceConcern {
  const self = membership.self;
  const refuse = (write: PartitionWrite): { errorCode: number; message: string } | null => {
    if (membership.isFenced()) {
      return { errorCode: ErrorCode.LEADER_NOT_AVAILABLE, message: `kmp instance ${self} is fenced (no lease on the control cluster); retry` };
    }
    if (blocksProduce(write.topic)) {
      return { errorCode: ErrorCode.LEADER_NOT_AVAILABLE, message: `kmp instance ${self}: ${write.topic} is about to move between clusters; retry` };
    }
    const leader = membership.leaderOf(write.topic, write.partition);
    if (leader !== null && leader !== self) {
      return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, message: `partition ${write.topic}-${write.partition} is led by kmp instance ${leader}` };
    }
    return null;
  };
  // Checked again right before sending when the write waited (held by a move, say): this instance may have lost
  // its lease meanwhile, and the others may have counted it gone and moved the partition without it.
  return { refuse, refuseBeforeSend: refuse };
}
