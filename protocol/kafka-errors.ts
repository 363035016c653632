// Every Kafka error code, by name, with the facts the proxy, its metrics and the router act on. franz-go's `kerr`
// is the model (one table: code, name, retriable, description); it is the only place a Kafka error number is written.
//
// Source: Kafka 4.3.1's `org.apache.kafka.common.protocol.Errors` enum, read from kafka-clients-4.3.1.jar (the
// brokers' own build) by scripts/kafka/DumpErrors.java; test/fixtures/kafka-errors-4.3.1.json is that dump, and
// test/unit/kafka-errors.test.ts checks this table against it. Per code:
// - `name` and `description`: the enum constant's name and default message (NONE has none; ours says "No error.").
// - `retriable`: the enum's exception `instanceof RetriableException`, i.e. what Java's producer retries by itself.
//   franz-go's kerr agrees except on two codes, where we follow Java: BROKER_NOT_AVAILABLE (8; kerr: retriable) and
//   CONCURRENT_TRANSACTIONS (51; kerr: not retriable).
// To add the codes of a newer Kafka, rerun the dump against its jar and append the new rows here.

/** One row of the table. */
interface KafkaErrorRow {
  readonly code: number;
  readonly retriable: boolean;
  readonly description: string;
}

const KAFKA_ERRORS = {
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false, description:
    'The server experienced an unexpected error when processing the request.' },
  NONE: { code: 0, retriable: false, description: 'No error.' },
  OFFSET_OUT_OF_RANGE: { code: 1, retriable: false, description:
    'The requested offset is not within the range of offsets maintained by the server.' },
  CORRUPT_MESSAGE: { code: 2, retriable: true, description:
    'This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or ' +
    'is otherwise corrupt.' },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 3, retriable: true, description: 'This server does not host this topic-partition.' },
  INVALID_FETCH_SIZE: { code: 4, retriable: false, description: 'The requested fetch size is invalid.' },
  LEADER_NOT_AVAILABLE: { code: 5, retriable: true, description:
    'There is no leader for this topic-partition as we are in the middle of a leadership election.' },
  NOT_LEADER_OR_FOLLOWER: { code: 6, retriable: true, description:
    'For requests intended only for the leader, this error indicates that the broker is not the current leader. ' +
    'For requests intended for any replica, this error indicates that the broker is not a replica of the topic ' +
    'partition.' },
  REQUEST_TIMED_OUT: { code: 7, retriable: true, description: 'The request timed out.' },
  BROKER_NOT_AVAILABLE: { code: 8, retriable: false, description: 'The broker is not available.' },
  REPLICA_NOT_AVAILABLE: { code: 9, retriable: true, description:
    'The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests ' +
    'intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the ' +
    'topic-partition.' },
  MESSAGE_TOO_LARGE: { code: 10, retriable: false, description:
    'The request included a message larger than the max message size the server will accept.' },
  STALE_CONTROLLER_EPOCH: { code: 11, retriable: false, description: 'The controller moved to another broker.' },
  OFFSET_METADATA_TOO_LARGE: { code: 12, retriable: false, description: 'The metadata field of the offset request was too large.' },
  NETWORK_EXCEPTION: { code: 13, retriable: true, description: 'The server disconnected before a response was received.' },
  COORDINATOR_LOAD_IN_PROGRESS: { code: 14, retriable: true, description: 'The coordinator is loading and hence can\'t process requests.' },
  COORDINATOR_NOT_AVAILABLE: { code: 15, retriable: true, description: 'The coordinator is not available.' },
  NOT_COORDINATOR: { code: 16, retriable: true, description: 'This is not the correct coordinator.' },
  INVALID_TOPIC_EXCEPTION: { code: 17, retriable: false, description:
    'The request attempted to perform an operation on an invalid topic.' },
  RECORD_LIST_TOO_LARGE: { code: 18, retriable: false, description:
    'The request included message batch larger than the configured segment size on the server.' },
  NOT_ENOUGH_REPLICAS: { code: 19, retriable: true, description:
    'Messages are rejected since there are fewer in-sync replicas than required.' },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: { code: 20, retriable: true, description:
    'Messages are written to the log, but to fewer in-sync replicas than required.' },
  INVALID_REQUIRED_ACKS: { code: 21, retriable: false, description: 'Produce request specified an invalid value for required acks.' },
  ILLEGAL_GENERATION: { code: 22, retriable: false, description: 'Specified group generation id is not valid.' },
  INCONSISTENT_GROUP_PROTOCOL: { code: 23, retriable: false, description:
    'The group member\'s supported protocols are incompatible with those of existing members or first group member ' +
    'tried to join with empty protocol type or empty protocol list.' },
  INVALID_GROUP_ID: { code: 24, retriable: false, description: 'The group id is invalid.' },
  UNKNOWN_MEMBER_ID: { code: 25, retriable: false, description: 'The coordinator is not aware of this member.' },
  INVALID_SESSION_TIMEOUT: { code: 26, retriable: false, description:
    'The session timeout is not within the range allowed by the broker (as configured by ' +
    'group.min.session.timeout.ms and group.max.session.timeout.ms).' },
  REBALANCE_IN_PROGRESS: { code: 27, retriable: false, description: 'The group is rebalancing, so a rejoin is needed.' },
  INVALID_COMMIT_OFFSET_SIZE: { code: 28, retriable: false, description: 'The committing offset data size is not valid.' },
  TOPIC_AUTHORIZATION_FAILED: { code: 29, retriable: false, description: 'Topic authorization failed.' },
  GROUP_AUTHORIZATION_FAILED: { code: 30, retriable: false, description: 'Group authorization failed.' },
  CLUSTER_AUTHORIZATION_FAILED: { code: 31, retriable: false, description: 'Cluster authorization failed.' },
  INVALID_TIMESTAMP: { code: 32, retriable: false, description: 'The timestamp of the message is out of acceptable range.' },
  UNSUPPORTED_SASL_MECHANISM: { code: 33, retriable: false, description: 'The broker does not support the requested SASL mechanism.' },
  ILLEGAL_SASL_STATE: { code: 34, retriable: false, description: 'Request is not valid given the current SASL state.' },
  UNSUPPORTED_VERSION: { code: 35, retriable: false, description: 'The version of API is not supported.' },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false, description: 'Topic with this name already exists.' },
  INVALID_PARTITIONS: { code: 37, retriable: false, description: 'Number of partitions is below 1.' },
  INVALID_REPLICATION_FACTOR: { code: 38, retriable: false, description:
    'Replication factor is below 1 or larger than the number of available brokers.' },
  INVALID_REPLICA_ASSIGNMENT: { code: 39, retriable: false, description: 'Replica assignment is invalid.' },
  INVALID_CONFIG: { code: 40, retriable: false, description: 'Configuration is invalid.' },
  NOT_CONTROLLER: { code: 41, retriable: true, description: 'This is not the correct controller for this cluster.' },
  INVALID_REQUEST: { code: 42, retriable: false, description:
    'This most likely occurs because of a request being malformed by the client library or the message was sent ' +
    'to an incompatible broker. See the broker logs for more details.' },
  UNSUPPORTED_FOR_MESSAGE_FORMAT: { code: 43, retriable: false, description:
    'The message format version on the broker does not support the request.' },
  POLICY_VIOLATION: { code: 44, retriable: false, description: 'Request parameters do not satisfy the configured policy.' },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { code: 45, retriable: false, description: 'The broker received an out of order sequence number.' },
  DUPLICATE_SEQUENCE_NUMBER: { code: 46, retriable: false, description: 'The broker received a duplicate sequence number.' },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false, description: 'Producer attempted to produce with an old epoch.' },
  INVALID_TXN_STATE: { code: 48, retriable: false, description: 'The producer attempted a transactional operation in an invalid state.' },
  INVALID_PRODUCER_ID_MAPPING: { code: 49, retriable: false, description:
    'The producer attempted to use a producer id which is not currently assigned to its transactional id.' },
  INVALID_TRANSACTION_TIMEOUT: { code: 50, retriable: false, description:
    'The transaction timeout is larger than the maximum value allowed by the broker (as configured by ' +
    'transaction.max.timeout.ms).' },
  CONCURRENT_TRANSACTIONS: { code: 51, retriable: true, description:
    'The producer attempted to update a transaction while another concurrent operation on the same transaction ' +
    'was ongoing.' },
  TRANSACTION_COORDINATOR_FENCED: { code: 52, retriable: false, description:
    'Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for ' +
    'a given producer.' },
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: { code: 53, retriable: false, description: 'Transactional Id authorization failed.' },
  SECURITY_DISABLED: { code: 54, retriable: false, description: 'Security features are disabled.' },
  OPERATION_NOT_ATTEMPTED: { code: 55, retriable: false, description:
    'The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations ' +
    'in the batch failed, causing the broker to respond without trying the rest.' },
  KAFKA_STORAGE_ERROR: { code: 56, retriable: true, description: 'Disk error when trying to access log file on the disk.' },
  LOG_DIR_NOT_FOUND: { code: 57, retriable: false, description: 'The user-specified log directory is not found in the broker config.' },
  SASL_AUTHENTICATION_FAILED: { code: 58, retriable: false, description: 'SASL Authentication failed.' },
  UNKNOWN_PRODUCER_ID: { code: 59, retriable: false, description:
    'This exception is raised by the broker if it could not locate the producer metadata associated with the ' +
    'producerId in question. This could happen if, for instance, the producer\'s records were deleted because ' +
    'their retention time had elapsed. Once the last records of the producerId are removed, the producer\'s ' +
    'metadata is removed from the broker, and future appends by the producer will return this exception.' },
  REASSIGNMENT_IN_PROGRESS: { code: 60, retriable: false, description: 'A partition reassignment is in progress.' },
  DELEGATION_TOKEN_AUTH_DISABLED: { code: 61, retriable: false, description: 'Delegation Token feature is not enabled.' },
  DELEGATION_TOKEN_NOT_FOUND: { code: 62, retriable: false, description: 'Delegation Token is not found on server.' },
  DELEGATION_TOKEN_OWNER_MISMATCH: { code: 63, retriable: false, description: 'Specified Principal is not valid Owner/Renewer.' },
  DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: { code: 64, retriable: false, description:
    'Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token ' +
    'authenticated channels.' },
  DELEGATION_TOKEN_AUTHORIZATION_FAILED: { code: 65, retriable: false, description: 'Delegation Token authorization failed.' },
  DELEGATION_TOKEN_EXPIRED: { code: 66, retriable: false, description: 'Delegation Token is expired.' },
  INVALID_PRINCIPAL_TYPE: { code: 67, retriable: false, description: 'Supplied principalType is not supported.' },
  NON_EMPTY_GROUP: { code: 68, retriable: false, description: 'The group is not empty.' },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false, description: 'The group id does not exist.' },
  FETCH_SESSION_ID_NOT_FOUND: { code: 70, retriable: true, description: 'The fetch session ID was not found.' },
  INVALID_FETCH_SESSION_EPOCH: { code: 71, retriable: true, description: 'The fetch session epoch is invalid.' },
  LISTENER_NOT_FOUND: { code: 72, retriable: true, description:
    'There is no listener on the leader broker that matches the listener on which metadata request was processed.' },
  TOPIC_DELETION_DISABLED: { code: 73, retriable: false, description: 'Topic deletion is disabled.' },
  FENCED_LEADER_EPOCH: { code: 74, retriable: true, description: 'The leader epoch in the request is older than the epoch on the broker.' },
  UNKNOWN_LEADER_EPOCH: { code: 75, retriable: true, description:
    'The leader epoch in the request is newer than the epoch on the broker.' },
  UNSUPPORTED_COMPRESSION_TYPE: { code: 76, retriable: false, description:
    'The requesting client does not support the compression type of given partition.' },
  STALE_BROKER_EPOCH: { code: 77, retriable: false, description: 'Broker epoch has changed.' },
  OFFSET_NOT_AVAILABLE: { code: 78, retriable: true, description:
    'The leader high watermark has not caught up from a recent leader election so the offsets cannot be ' +
    'guaranteed to be monotonically increasing.' },
  MEMBER_ID_REQUIRED: { code: 79, retriable: false, description:
    'The group member needs to have a valid member id before actually entering a consumer group.' },
  PREFERRED_LEADER_NOT_AVAILABLE: { code: 80, retriable: true, description: 'The preferred leader was not available.' },
  GROUP_MAX_SIZE_REACHED: { code: 81, retriable: false, description: 'The group has reached its maximum size.' },
  FENCED_INSTANCE_ID: { code: 82, retriable: false, description:
    'The broker rejected this static consumer since another consumer with the same group.instance.id has ' +
    'registered with a different member.id.' },
  ELIGIBLE_LEADERS_NOT_AVAILABLE: { code: 83, retriable: true, description: 'Eligible topic partition leaders are not available.' },
  ELECTION_NOT_NEEDED: { code: 84, retriable: true, description: 'Leader election not needed for topic partition.' },
  NO_REASSIGNMENT_IN_PROGRESS: { code: 85, retriable: false, description: 'No partition reassignment is in progress.' },
  GROUP_SUBSCRIBED_TO_TOPIC: { code: 86, retriable: false, description:
    'Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.' },
  INVALID_RECORD: { code: 87, retriable: false, description:
    'This record has failed the validation on broker and hence will be rejected.' },
  UNSTABLE_OFFSET_COMMIT: { code: 88, retriable: true, description: 'There are unstable offsets that need to be cleared.' },
  THROTTLING_QUOTA_EXCEEDED: { code: 89, retriable: true, description: 'The throttling quota has been exceeded.' },
  PRODUCER_FENCED: { code: 90, retriable: false, description:
    'There is a newer producer with the same transactionalId which fences the current one.' },
  RESOURCE_NOT_FOUND: { code: 91, retriable: false, description: 'A request illegally referred to a resource that does not exist.' },
  DUPLICATE_RESOURCE: { code: 92, retriable: false, description: 'A request illegally referred to the same resource twice.' },
  UNACCEPTABLE_CREDENTIAL: { code: 93, retriable: false, description: 'Requested credential would not meet criteria for acceptability.' },
  INCONSISTENT_VOTER_SET: { code: 94, retriable: false, description:
    'Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters.' },
  INVALID_UPDATE_VERSION: { code: 95, retriable: false, description: 'The given update version was invalid.' },
  FEATURE_UPDATE_FAILED: { code: 96, retriable: false, description:
    'Unable to update finalized features due to an unexpected server error.' },
  PRINCIPAL_DESERIALIZATION_FAILURE: { code: 97, retriable: false, description:
    'Request principal deserialization failed during forwarding. This indicates an internal error on the broker ' +
    'cluster security setup.' },
  SNAPSHOT_NOT_FOUND: { code: 98, retriable: false, description: 'Requested snapshot was not found.' },
  POSITION_OUT_OF_RANGE: { code: 99, retriable: false, description:
    'Requested position is not greater than or equal to zero, and less than the size of the snapshot.' },
  UNKNOWN_TOPIC_ID: { code: 100, retriable: true, description: 'This server does not host this topic ID.' },
  DUPLICATE_BROKER_REGISTRATION: { code: 101, retriable: false, description: 'This broker ID is already in use.' },
  BROKER_ID_NOT_REGISTERED: { code: 102, retriable: false, description: 'The given broker ID was not registered.' },
  INCONSISTENT_TOPIC_ID: { code: 103, retriable: true, description: 'The log\'s topic ID did not match the topic ID in the request.' },
  INCONSISTENT_CLUSTER_ID: { code: 104, retriable: false, description:
    'The clusterId in the request does not match that found on the server.' },
  TRANSACTIONAL_ID_NOT_FOUND: { code: 105, retriable: false, description: 'The transactionalId could not be found.' },
  FETCH_SESSION_TOPIC_ID_ERROR: { code: 106, retriable: true, description: 'The fetch session encountered inconsistent topic ID usage.' },
  INELIGIBLE_REPLICA: { code: 107, retriable: false, description: 'The new ISR contains at least one ineligible replica.' },
  NEW_LEADER_ELECTED: { code: 108, retriable: false, description:
    'The AlterPartition request successfully updated the partition state but the leader has changed.' },
  OFFSET_MOVED_TO_TIERED_STORAGE: { code: 109, retriable: false, description: 'The requested offset is moved to tiered storage.' },
  FENCED_MEMBER_EPOCH: { code: 110, retriable: false, description:
    'The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.' },
  UNRELEASED_INSTANCE_ID: { code: 111, retriable: false, description:
    'The instance ID is still used by another member in the consumer group. That member must leave first.' },
  UNSUPPORTED_ASSIGNOR: { code: 112, retriable: false, description:
    'The assignor or its version range is not supported by the consumer group.' },
  STALE_MEMBER_EPOCH: { code: 113, retriable: false, description:
    'The member epoch is stale. The member must retry after receiving its updated member epoch via the ' +
    'ConsumerGroupHeartbeat API.' },
  MISMATCHED_ENDPOINT_TYPE: { code: 114, retriable: false, description: 'The request was sent to an endpoint of the wrong type.' },
  UNSUPPORTED_ENDPOINT_TYPE: { code: 115, retriable: false, description: 'This endpoint type is not supported yet.' },
  UNKNOWN_CONTROLLER_ID: { code: 116, retriable: false, description: 'This controller ID is not known.' },
  UNKNOWN_SUBSCRIPTION_ID: { code: 117, retriable: false, description:
    'Client sent a push telemetry request with an invalid or outdated subscription ID.' },
  TELEMETRY_TOO_LARGE: { code: 118, retriable: false, description:
    'Client sent a push telemetry request larger than the maximum size the broker will accept.' },
  INVALID_REGISTRATION: { code: 119, retriable: false, description:
    'The controller has considered the broker registration to be invalid.' },
  TRANSACTION_ABORTABLE: { code: 120, retriable: false, description:
    'The server encountered an error with the transaction. The client can abort the transaction to continue using ' +
    'this transactional ID.' },
  INVALID_RECORD_STATE: { code: 121, retriable: false, description:
    'The record state is invalid. The acknowledgement of delivery could not be completed.' },
  SHARE_SESSION_NOT_FOUND: { code: 122, retriable: true, description: 'The share session was not found.' },
  INVALID_SHARE_SESSION_EPOCH: { code: 123, retriable: true, description: 'The share session epoch is invalid.' },
  FENCED_STATE_EPOCH: { code: 124, retriable: false, description:
    'The share coordinator rejected the request because the share-group state epoch did not match.' },
  INVALID_VOTER_KEY: { code: 125, retriable: false, description: 'The voter key doesn\'t match the receiving replica\'s key.' },
  DUPLICATE_VOTER: { code: 126, retriable: false, description: 'The voter is already part of the set of voters.' },
  VOTER_NOT_FOUND: { code: 127, retriable: false, description: 'The voter is not part of the set of voters.' },
  INVALID_REGULAR_EXPRESSION: { code: 128, retriable: false, description: 'The regular expression is not valid.' },
  REBOOTSTRAP_REQUIRED: { code: 129, retriable: false, description:
    'Client metadata is stale. The client should rebootstrap to obtain new metadata.' },
  STREAMS_INVALID_TOPOLOGY: { code: 130, retriable: false, description: 'The supplied topology is invalid.' },
  STREAMS_INVALID_TOPOLOGY_EPOCH: { code: 131, retriable: false, description: 'The supplied topology epoch is invalid.' },
  STREAMS_TOPOLOGY_FENCED: { code: 132, retriable: false, description: 'The supplied topology epoch is outdated.' },
  SHARE_SESSION_LIMIT_REACHED: { code: 133, retriable: true, description: 'The limit of share sessions has been reached.' },
} as const satisfies Record<string, KafkaErrorRow>;

export type KafkaErrorName = keyof typeof KAFKA_ERRORS;

type ErrorCodeByName = { readonly [N in KafkaErrorName]: (typeof KAFKA_ERRORS)[N]['code'] };

/** Every Kafka error code by name, e.g. `ErrorCode.NOT_LEADER_OR_FOLLOWER === 6`; each property has its literal type. */
export const ErrorCode: ErrorCodeByName = Object.freeze(
  // Object.fromEntries types its result as `{ [k: string]: number }`; the entries are exactly the table's names
  // and codes, which is what ErrorCodeByName spells out, so the assertion only restores the literal types.
  Object.fromEntries(Object.entries(KAFKA_ERRORS).map(([name, row]) => [name, row.code])) as ErrorCodeByName,
);

/** A code the table knows. */
export type ErrorCode = ErrorCodeByName[KafkaErrorName];

export interface KafkaErrorInfo {
  readonly code: number;
  /** Kafka's name (NOT_LEADER_OR_FOLLOWER); for a code not in the table, UNKNOWN_ERROR_CODE_<code>. */
  readonly name: string;
  /** False for a synthetic entry: a code that Kafka 4.3.1 does not define (a newer broker's, or garbage). */
  readonly known: boolean;
  /** Java's producer retries it by itself (RetriableException). */
  readonly retriable: boolean;
  /**
   * The Produce that failed with it may nevertheless have been appended (docs/protocol-notes.md §c point 4), so a cutover must not
   * move the partition on as if it were not written: the client's retry has to reach the same cluster, where the
   * broker de-duplicates it.
   */
  readonly mayHaveBeenWritten: boolean;
  readonly description: string;
}

// REQUEST_TIMED_OUT: the leader appended but the replicas did not acknowledge in time. NOT_ENOUGH_REPLICAS_AFTER_APPEND:
// appended, then the ISR shrank. NETWORK_EXCEPTION: the connection dropped after the request went out.
const MAY_HAVE_BEEN_WRITTEN: ReadonlySet<number> = new Set([
  ErrorCode.REQUEST_TIMED_OUT, ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND, ErrorCode.NETWORK_EXCEPTION,
]);

// The partition's leader moved or is unknown, so the proxy refreshes that topic's upstream metadata. All of them
// are InvalidMetadataException subclasses in Java; that class's others (REPLICA_NOT_AVAILABLE, NETWORK_EXCEPTION,
// UNKNOWN_TOPIC_ID, …) do not say the leader moved on a name-addressed Produce, so they do not trigger a refresh.
const LEADERSHIP_ERRORS: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.LEADER_NOT_AVAILABLE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.KAFKA_STORAGE_ERROR, ErrorCode.FENCED_LEADER_EPOCH,
]);

const MIN_CODE = ErrorCode.UNKNOWN_SERVER_ERROR;

/** Every known error, ordered by code. */
export const kafkaErrors: readonly KafkaErrorInfo[] = Object.freeze(
  Object.entries(KAFKA_ERRORS)
    .map(([name, row]): KafkaErrorInfo => Object.freeze({
      code: row.code, name, known: true, retriable: row.retriable,
      mayHaveBeenWritten: MAY_HAVE_BEEN_WRITTEN.has(row.code), description: row.description,
    }))
    .sort((a, b) => a.code - b.code),
);

// Kafka's codes are contiguous from -1, so an array indexed by `code - MIN_CODE` is the lookup; the hot path calls
// it for every failed partition and it must not allocate for a known code.
const BY_CODE: readonly (KafkaErrorInfo | undefined)[] = (() => {
  const byCode: (KafkaErrorInfo | undefined)[] = [];
  for (const info of kafkaErrors) byCode[info.code - MIN_CODE] = info;
  return byCode;
})();

const INT16_MIN = -32768;
const INT16_MAX = 32767;

/**
 * The table's entry for `code`. A code the table lacks gets a fresh synthetic entry that is not retriable, like
 * Java, whose Errors.forCode maps it to UNKNOWN_SERVER_ERROR. Throws a RangeError for a value that is no int16.
 */
export function kafkaError(code: number): KafkaErrorInfo {
  const info = BY_CODE[code - MIN_CODE];
  if (info !== undefined) return info;
  if (!Number.isInteger(code) || code < INT16_MIN || code > INT16_MAX) {
    throw new RangeError(`a Kafka error code is an int16 (${INT16_MIN}..${INT16_MAX}), got ${code}`);
  }
  return Object.freeze({
    code, name: `UNKNOWN_ERROR_CODE_${code}`, known: false, retriable: false, mayHaveBeenWritten: false,
    description: `Error code ${code} is not defined by Kafka 4.3.1.`,
  });
}

/** Kafka's name for `code`, or UNKNOWN_ERROR_CODE_<code>: a bounded, readable label for logs and metrics. */
export function errorName(code: number): string {
  return kafkaError(code).name;
}

/** Errors a producer retries by itself (Java's RetriableException subclasses). */
export function isRetriable(code: number): boolean {
  return kafkaError(code).retriable;
}

/** Errors whose batch may nevertheless be in the log (see KafkaErrorInfo.mayHaveBeenWritten). */
export function mayHaveBeenWritten(code: number): boolean {
  return kafkaError(code).mayHaveBeenWritten;
}

/** Errors after which the proxy should refresh its upstream metadata for the topic (the leader moved). */
export function isLeadershipError(code: number): boolean {
  return LEADERSHIP_ERRORS.has(kafkaError(code).code);
}
