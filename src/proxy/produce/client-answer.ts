// The "merge" half of a Produce: every partition's answer, in the client's order, as one ProduceResponse frame.
import { ApiKey } from '../../../protocol/messages/index.ts';
import { encodeResponseFrame } from '../../../protocol/codec.ts';
import { ZERO_UUID } from '../../../protocol/uuid.ts';
import type { ProduceRequest } from '../../../protocol/messages/produce-request.ts';
import { defaultProduceResponse, type TopicProduceResponse } from '../../../protocol/messages/produce-response.ts';
import type { PartitionWrite } from './partition-write.ts';

/** The client's answer; every write must be settled (each carries its result). */
export function encodeClientAnswer(version: number, correlationId: number, req: ProduceRequest, writes: readonly PartitionWrite[], throttleTimeMs: number): Buffer[] {
  let i = 0;
  const responses: TopicProduceResponse[] = [];
  for (const t of req.topicData) {
    const partitionResponses = [];
    for (let n = t.partitionData.length; n > 0; n--) {
      const w = writes[i++];
      if (w.result === null) throw new Error(`kmp: ${w.topic}-${w.partition} has no answer`);
      partitionResponses.push(w.result);
    }
    responses.push({ name: t.name, topicId: ZERO_UUID, partitionResponses });
  }
  return encodeResponseFrame(ApiKey.Produce, version, correlationId, { ...defaultProduceResponse(), responses, throttleTimeMs });
}
