// The Produce path's side of counting the partition errors kmp answered during a move (routing/move-errors.ts):
// a ProduceConcern whose settled hook reports every partition answered with an error. Partitions answered
// without an error return after one comparison, so the healthy path pays nothing more.
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { MoveErrorWatch } from '../../routing/move-errors.ts';
import type { ProduceConcern } from './produce/produce-session.ts';
import type { PartitionWrite } from './produce/partition-write.ts';

export function moveErrorConcern(watch: MoveErrorWatch): ProduceConcern {
  return {
    settled(w: PartitionWrite): void {
      const answer = w.result;
      if (answer === null || answer.errorCode === ErrorCode.NONE) return;
      watch.observe(w.topic, answer.errorCode, answer.errorMessage);
    },
  };
}
