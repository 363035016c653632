import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  ErrorCode, errorName, isLeadershipError, isRetriable, kafkaError, kafkaErrors, mayHaveBeenWritten,
} from '../../protocol/kafka-errors.ts';

// Kafka 4.3.1's Errors enum as the JVM sees it, written by scripts/kafka/DumpErrors.java from kafka-clients-4.3.1.jar.
interface JavaError {
  code: number;
  name: string;
  message: string;
  exception: string | null;
  retriable: boolean;
  invalidMetadata: boolean;
}
const java: JavaError[] = JSON.parse(readFileSync(new URL('../fixtures/kafka-errors-4.3.1.json', import.meta.url), 'utf8'));
const javaByCode = new Map(java.map((e) => [e.code, e]));

test('the table holds exactly the codes of Kafka 4.3.1, with its names, retriable flags and messages', () => {
  assert.equal(kafkaErrors.length, java.length);
  for (const j of java) {
    const info = kafkaError(j.code);
    assert.equal(info.known, true, `code ${j.code}`);
    assert.equal(info.code, j.code);
    assert.equal(info.name, j.name, `code ${j.code}`);
    assert.equal(info.retriable, j.retriable, `${j.name} retriable`);
    // Java has no message for NONE (message() falls back to the constant's name).
    if (j.code !== ErrorCode.NONE) assert.equal(info.description, j.message, `${j.name} description`);
  }
});

test('codes are unique and contiguous from -1 to the newest, as Kafka assigns them; names are unique', () => {
  const codes = kafkaErrors.map((e) => e.code);
  assert.equal(codes[0], -1);
  codes.forEach((code, i) => assert.equal(code, codes[0]! + i, `gap or duplicate before index ${i}`));
  assert.equal(new Set(kafkaErrors.map((e) => e.name)).size, kafkaErrors.length);
});

test('ErrorCode names every code of the table and maps each name to its own code', () => {
  const entries = Object.entries(ErrorCode);
  assert.equal(entries.length, kafkaErrors.length);
  for (const [name, code] of entries) assert.equal(kafkaError(code).name, name);
  assert.ok(Object.isFrozen(ErrorCode));
  assert.throws(() => { (ErrorCode as Record<string, number>).NONE = 1; }, TypeError);
  assert.equal(ErrorCode.NONE, 0);
});

test('a sample of codes and names read off Kafka\'s Errors.java', () => {
  // From clients/src/main/java/org/apache/kafka/common/protocol/Errors.java (4.x), typed in by hand.
  const sample: [number, string][] = [
    [-1, 'UNKNOWN_SERVER_ERROR'], [0, 'NONE'], [2, 'CORRUPT_MESSAGE'], [3, 'UNKNOWN_TOPIC_OR_PARTITION'],
    [5, 'LEADER_NOT_AVAILABLE'], [6, 'NOT_LEADER_OR_FOLLOWER'], [7, 'REQUEST_TIMED_OUT'], [8, 'BROKER_NOT_AVAILABLE'],
    [13, 'NETWORK_EXCEPTION'], [15, 'COORDINATOR_NOT_AVAILABLE'], [19, 'NOT_ENOUGH_REPLICAS'],
    [20, 'NOT_ENOUGH_REPLICAS_AFTER_APPEND'], [35, 'UNSUPPORTED_VERSION'], [42, 'INVALID_REQUEST'],
    [45, 'OUT_OF_ORDER_SEQUENCE_NUMBER'], [53, 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'], [56, 'KAFKA_STORAGE_ERROR'],
    [74, 'FENCED_LEADER_EPOCH'], [87, 'INVALID_RECORD'], [90, 'PRODUCER_FENCED'], [100, 'UNKNOWN_TOPIC_ID'],
    [120, 'TRANSACTION_ABORTABLE'], [129, 'REBOOTSTRAP_REQUIRED'], [133, 'SHARE_SESSION_LIMIT_REACHED'],
  ];
  for (const [code, name] of sample) {
    assert.equal(errorName(code), name);
    assert.equal((ErrorCode as Record<string, number>)[name], code);
  }
});

test('the errors the proxy synthesizes or reacts to are classified as Java\'s producer classifies them', () => {
  const retriable = [
    'NOT_LEADER_OR_FOLLOWER', 'LEADER_NOT_AVAILABLE', // the barrier's "wait and retry" answers
    'UNKNOWN_TOPIC_OR_PARTITION', 'REQUEST_TIMED_OUT', 'NETWORK_EXCEPTION', 'NOT_ENOUGH_REPLICAS',
    'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'KAFKA_STORAGE_ERROR', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH',
    'CORRUPT_MESSAGE', 'COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'CONCURRENT_TRANSACTIONS',
  ] as const;
  const notRetriable = [
    'NONE', 'UNKNOWN_SERVER_ERROR', 'BROKER_NOT_AVAILABLE', 'MESSAGE_TOO_LARGE', 'OUT_OF_ORDER_SEQUENCE_NUMBER',
    'INVALID_PRODUCER_EPOCH', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'UNSUPPORTED_VERSION', 'INVALID_RECORD',
    'INVALID_REQUEST', 'PRODUCER_FENCED', 'TOPIC_AUTHORIZATION_FAILED', 'INVALID_TXN_STATE',
  ] as const;
  for (const name of retriable) assert.equal(isRetriable(ErrorCode[name]), true, name);
  for (const name of notRetriable) assert.equal(isRetriable(ErrorCode[name]), false, name);
  // The list the proxy used before this table; every one of them must still be retried.
  for (const code of [2, 3, 5, 6, 7, 13, 15, 16, 19, 20, 56, 74, 75]) assert.equal(isRetriable(code), true, `code ${code}`);
});

test('only REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND and NETWORK_EXCEPTION may have been written', () => {
  const written = kafkaErrors.filter((e) => mayHaveBeenWritten(e.code)).map((e) => e.name);
  assert.deepEqual(written.sort(), ['NETWORK_EXCEPTION', 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'REQUEST_TIMED_OUT']);
  for (const e of kafkaErrors) assert.equal(e.mayHaveBeenWritten, mayHaveBeenWritten(e.code));
});

test('leadership errors are the five that say the leader moved, each one stale metadata to Java\'s client', () => {
  const leadership = kafkaErrors.filter((e) => isLeadershipError(e.code)).map((e) => e.name);
  assert.deepEqual(leadership.sort(), [
    'FENCED_LEADER_EPOCH', 'KAFKA_STORAGE_ERROR', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION',
  ]);
  for (const name of leadership) {
    const j = javaByCode.get((ErrorCode as Record<string, number>)[name]!);
    assert.equal(j?.invalidMetadata, true, `${name} is an InvalidMetadataException in Java`);
    assert.equal(j?.retriable, true, name);
  }
});

test('a code Kafka 4.3.1 does not define gets a synthetic, non-retriable entry', () => {
  for (const code of [134, 999, -2, 32767, -32768]) {
    const info = kafkaError(code);
    assert.deepEqual({ ...info, description: undefined }, {
      code, name: `UNKNOWN_ERROR_CODE_${code}`, known: false, retriable: false, mayHaveBeenWritten: false, description: undefined,
    });
    assert.match(info.description, new RegExp(`${code}`));
    assert.equal(errorName(code), `UNKNOWN_ERROR_CODE_${code}`);
    assert.equal(isRetriable(code), false);
    assert.equal(mayHaveBeenWritten(code), false);
    assert.equal(isLeadershipError(code), false);
  }
  // A known code returns the one shared frozen entry; an unknown one is built per call and not kept.
  assert.equal(kafkaError(6), kafkaError(6));
  assert.ok(Object.isFrozen(kafkaError(6)) && Object.isFrozen(kafkaError(999)));
});

test('a value that is no int16 is refused with a clear error', () => {
  for (const bad of [1.5, Number.NaN, Infinity, 32768, -32769]) {
    assert.throws(() => kafkaError(bad), (err: unknown) => err instanceof RangeError && /int16/.test(err.message) && err.message.includes(String(bad)));
    assert.throws(() => isRetriable(bad), RangeError);
    assert.throws(() => isLeadershipError(bad), RangeError);
  }
});
