// The Kafka error codes the proxy itself produces or reacts to (docs/protocol-notes.md §h), by name.
export const ErrorCode = {
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  NETWORK_EXCEPTION: 13,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_ENOUGH_REPLICAS: 19,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: 20,
  UNSUPPORTED_VERSION: 35,
  INVALID_REQUEST: 42,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  KAFKA_STORAGE_ERROR: 56,
  FENCED_LEADER_EPOCH: 74,
  INVALID_RECORD: 87,
} as const;

/** Errors after which the proxy should refresh its upstream metadata for the topic (the leader moved). */
export function isLeadershipError(code: number): boolean {
  return code === ErrorCode.NOT_LEADER_OR_FOLLOWER || code === ErrorCode.LEADER_NOT_AVAILABLE ||
    code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION || code === ErrorCode.KAFKA_STORAGE_ERROR || code === ErrorCode.FENCED_LEADER_EPOCH;
}

/**
 * Errors whose batch may nevertheless be in the log (docs/protocol-notes.md §c point 4): a cutover must not move the partition
 * on as if it were not written; the client's retry has to reach the same cluster, where it is de-duplicated.
 */
export function mayHaveBeenWritten(code: number): boolean {
  return code === ErrorCode.REQUEST_TIMED_OUT || code === ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND || code === ErrorCode.NETWORK_EXCEPTION;
}

/** Errors a producer retries by itself (Java's RetriableException subclasses, docs/protocol-notes.md §h). */
export function isRetriable(code: number): boolean {
  return [2, 3, 5, 6, 7, 13, 15, 16, 19, 20, 56, 74, 75].includes(code);
}
