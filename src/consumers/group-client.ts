// The consumer-group requests of one cluster, as the admin path needs them (never the data path): list groups,
// describe one, fetch and commit its offsets through its coordinator, and read log end offsets for lag.
// Kafka's own tool does the same for `kafka-consumer-groups --reset-offsets`: FindCoordinator, then
// OffsetCommit with generation -1 and an empty member id, which the coordinator accepts only for an empty group.
import { ApiKey } from '../../protocol/messages/index.ts';
import { ErrorCode, errorName, isRetriable } from '../../protocol/kafka-errors.ts';
import { defaultListGroupsRequest } from '../../protocol/messages/list-groups-request.ts';
import { defaultDescribeGroupsRequest } from '../../protocol/messages/describe-groups-request.ts';
import { defaultFindCoordinatorRequest } from '../../protocol/messages/find-coordinator-request.ts';
import { defaultOffsetFetchRequest } from '../../protocol/messages/offset-fetch-request.ts';
import { defaultOffsetCommitRequest } from '../../protocol/messages/offset-commit-request.ts';
import { defaultListOffsetsRequest } from '../../protocol/messages/list-offsets-request.ts';
import type { BrokerConnection } from '../upstream/broker-connection.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';

/** Group states in which no member holds partitions (classic and consumer protocol alike). */
const IDLE_STATES = new Set(['Empty', 'Dead']);
const GROUP_KEY_TYPE = 0;
const LATEST_TIMESTAMP = -1n;
const ATTEMPTS = 5;

export class GroupRequestError extends Error {
  /** 503: the cluster or its coordinator cannot be reached; callers may retry. */
  readonly status = 503;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GroupRequestError';
  }
}

export interface GroupListing {
  readonly groupId: string;
  /** "Empty", "Stable", … ("" when the broker is older than ListGroups v4). */
  readonly state: string;
  /** "consumer" for consumer groups; "" for groups that only hold committed offsets. */
  readonly protocolType: string;
}

export interface GroupMember {
  readonly memberId: string;
  readonly clientId: string;
  readonly clientHost: string;
}

export interface GroupDescription {
  /** Null when the group does not exist on this cluster. */
  readonly state: string | null;
  readonly members: readonly GroupMember[];
}

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly metadata: string | null;
}

export interface OffsetToCommit {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly metadata: string | null;
}

export function isIdle(description: GroupDescription): boolean {
  return description.state === null || (IDLE_STATES.has(description.state) && description.members.length === 0);
}

export class GroupClient {
  readonly #cluster: ClusterClient;

  constructor(cluster: ClusterClient) {
    this.#cluster = cluster;
  }

  get name(): string {
    return this.#cluster.name;
  }

  /** Every group of the cluster: each broker answers ListGroups for the groups it coordinates. */
  async listGroups(): Promise<GroupListing[]> {
    await this.#cluster.allTopics(); // refreshes the broker list
    const out = new Map<string, GroupListing>();
    for (const nodeId of this.#cluster.brokerIds) {
      const conn = await this.#connect(nodeId);
      const version = Math.min(conn.versions.get(ApiKey.ListGroups)?.max ?? 0, 5);
      const res = await conn.send(ApiKey.ListGroups, version, defaultListGroupsRequest());
      if (res.errorCode !== ErrorCode.NONE) throw new GroupRequestError(`${this.name}: ListGroups on broker ${nodeId} failed with ${errorName(res.errorCode)}`);
      for (const g of res.groups) out.set(g.groupId, { groupId: g.groupId, state: g.groupState, protocolType: g.protocolType });
    }
    return [...out.values()].sort((a, b) => a.groupId.localeCompare(b.groupId));
  }

  /** State and members, from the coordinator. A group that exists nowhere has state null. */
  async describe(groupId: string): Promise<GroupDescription> {
    return this.#withCoordinator<GroupDescription>(groupId, async (conn) => {
      const version = Math.min(conn.versions.get(ApiKey.DescribeGroups)?.max ?? 0, 5);
      const res = await conn.send(ApiKey.DescribeGroups, version, { ...defaultDescribeGroupsRequest(), groups: [groupId] });
      const g = res.groups.find((x) => x.groupId === groupId);
      if (g === undefined) throw new GroupRequestError(`${this.name}: DescribeGroups did not answer for group "${groupId}"`);
      if (g.errorCode === ErrorCode.GROUP_ID_NOT_FOUND) return await this.#stateFromListing(groupId);
      if (g.errorCode !== ErrorCode.NONE) return { retry: g.errorCode };
      if (g.groupState === 'Dead') return { state: null, members: [] };
      return { state: g.groupState, members: g.members.map((m) => ({ memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost })) };
    });
  }

  /** The group's committed offsets for every topic (partitions without one are left out). */
  async committedOffsets(groupId: string): Promise<CommittedOffset[]> {
    return this.#withCoordinator<CommittedOffset[]>(groupId, async (conn) => {
      const max = conn.versions.get(ApiKey.OffsetFetch)?.max ?? 0;
      if (max < 8) throw new GroupRequestError(`${this.name}: the brokers answer OffsetFetch up to v${max}; consumer moves need v8 (Kafka 3.0 or newer)`);
      const res = await conn.send(ApiKey.OffsetFetch, Math.min(max, 9), {
        ...defaultOffsetFetchRequest(),
        groups: [{ groupId, memberId: null, memberEpoch: -1, topics: null }],
        requireStable: true,
      });
      const g = res.groups.find((x) => x.groupId === groupId);
      if (g === undefined) throw new GroupRequestError(`${this.name}: OffsetFetch did not answer for group "${groupId}"`);
      if (g.errorCode === ErrorCode.GROUP_ID_NOT_FOUND) return [];
      if (g.errorCode !== ErrorCode.NONE) return { retry: g.errorCode };
      const out: CommittedOffset[] = [];
      for (const t of g.topics) {
        for (const p of t.partitions) {
          // UNSTABLE_OFFSET_COMMIT: a transactional commit is pending; ask again rather than read a stale offset.
          if (p.errorCode !== ErrorCode.NONE) return { retry: p.errorCode, what: `${t.name}-${p.partitionIndex}` };
          if (p.committedOffset >= 0n) out.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, metadata: p.metadata });
        }
      }
      return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    });
  }

  /**
   * Commits offsets for a group that has no members (generation -1, empty member id): the coordinator refuses
   * this while the group has members, so a consumer that started meanwhile is never overwritten.
   */
  async commitOffsets(groupId: string, offsets: readonly OffsetToCommit[]): Promise<void> {
    const byTopic = new Map<string, OffsetToCommit[]>();
    for (const o of offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o]);
    await this.#withCoordinator<undefined>(groupId, async (conn) => {
      const version = Math.min(conn.versions.get(ApiKey.OffsetCommit)?.max ?? 0, 9);
      const res = await conn.send(ApiKey.OffsetCommit, version, {
        ...defaultOffsetCommitRequest(),
        groupId,
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        topics: [...byTopic].map(([name, ps]) => ({
          name,
          topicId: '00000000-0000-0000-0000-000000000000',
          partitions: ps.map((p) => ({ partitionIndex: p.partition, committedOffset: p.offset, committedLeaderEpoch: -1, committedMetadata: p.metadata })),
        })),
      });
      const failed: string[] = [];
      for (const t of res.topics) {
        for (const p of t.partitions) {
          if (p.errorCode === ErrorCode.NONE) continue;
          if (p.errorCode === ErrorCode.NOT_COORDINATOR || p.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS || p.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE) {
            return { retry: p.errorCode };
          }
          failed.push(`${t.name}-${p.partitionIndex}: ${errorName(p.errorCode)}`);
        }
      }
      if (failed.length > 0) {
        throw new OffsetCommitRefusedError(`${this.name}: the coordinator refused the offsets of group "${groupId}" (${failed.join(', ')}); a group with members cannot be moved`, failed);
      }
      return undefined;
    });
  }

  /** Log end offsets (high watermarks) of a topic's partitions, from their leaders. */
  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const meta = await this.#cluster.topic(topic, { refresh: true });
    if (meta.errorCode !== ErrorCode.NONE) return new Map();
    const byLeader = new Map<number, number[]>();
    for (const p of meta.partitions) byLeader.set(p.leaderId, [...(byLeader.get(p.leaderId) ?? []), p.partition]);
    const out = new Map<number, bigint>();
    for (const [leader, partitions] of byLeader) {
      const conn = await this.#connect(leader);
      const version = Math.min(conn.versions.get(ApiKey.ListOffsets)?.max ?? 1, 9);
      const res = await conn.send(ApiKey.ListOffsets, version, {
        ...defaultListOffsetsRequest(),
        replicaId: -1,
        isolationLevel: 0,
        topics: [{ name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, currentLeaderEpoch: -1, timestamp: LATEST_TIMESTAMP })) }],
      });
      for (const t of res.topics) {
        for (const p of t.partitions) {
          if (p.errorCode !== ErrorCode.NONE) throw new GroupRequestError(`${this.name}: ListOffsets for ${topic}-${p.partitionIndex} failed with ${errorName(p.errorCode)}`);
          out.set(p.partitionIndex, p.offset);
        }
      }
    }
    return out;
  }

  /** ListGroups knows every group type; used when DescribeGroups does not describe the group (not a classic group). */
  async #stateFromListing(groupId: string): Promise<GroupDescription> {
    const listed = (await this.listGroups()).find((g) => g.groupId === groupId);
    return { state: listed === undefined || listed.state === 'Dead' ? null : listed.state, members: [] };
  }

  async #connect(nodeId: number): Promise<BrokerConnection> {
    try {
      return await this.#cluster.connection(nodeId);
    } catch (error) {
      throw new GroupRequestError(`${this.name}: broker ${nodeId} unreachable: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /**
   * Runs `fn` on the group's coordinator; `fn` answers `{ retry: code }` for a coordinator error (moved, loading),
   * which finds the coordinator again, a few times, with a short pause.
   */
  async #withCoordinator<T>(groupId: string, fn: (conn: BrokerConnection) => Promise<T | { retry: number; what?: string }>): Promise<T> {
    let last = '';
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 100 * attempt));
      const nodeId = await this.#findCoordinator(groupId);
      if (typeof nodeId === 'string') {
        last = nodeId;
        continue;
      }
      const answer = await fn(await this.#connect(nodeId));
      if (isRetry(answer)) {
        last = `${errorName(answer.retry)}${answer.what !== undefined ? ` on ${answer.what}` : ''}`;
        if (!isRetriable(answer.retry)) throw new GroupRequestError(`${this.name}: group "${groupId}": ${last}`);
        continue;
      }
      return answer;
    }
    throw new GroupRequestError(`${this.name}: group "${groupId}": the coordinator did not answer after ${ATTEMPTS} attempts (${last})`);
  }

  /** The coordinator's node id, or the error name to retry on. */
  async #findCoordinator(groupId: string): Promise<number | string> {
    let conn: BrokerConnection;
    try {
      conn = await this.#cluster.anyConnection();
    } catch (error) {
      throw new GroupRequestError(`${this.name} cluster unreachable: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const version = Math.min(conn.versions.get(ApiKey.FindCoordinator)?.max ?? 0, 4);
    const res = await conn.send(ApiKey.FindCoordinator, version, {
      ...defaultFindCoordinatorRequest(),
      // v4+ asks in a batch; the codec refuses fields a version does not have.
      key: version >= 4 ? '' : groupId,
      keyType: GROUP_KEY_TYPE,
      coordinatorKeys: version >= 4 ? [groupId] : [],
    });
    const answer = version >= 4 ? res.coordinators.find((c) => c.key === groupId) : res;
    if (answer === undefined) return 'no coordinator in the FindCoordinator answer';
    if (answer.errorCode !== ErrorCode.NONE) {
      if (!isRetriable(answer.errorCode)) throw new GroupRequestError(`${this.name}: FindCoordinator for group "${groupId}" failed with ${errorName(answer.errorCode)}`);
      return errorName(answer.errorCode);
    }
    if (!this.#cluster.brokerIds.includes(answer.nodeId)) await this.#cluster.allTopics();
    return answer.nodeId;
  }
}

/** The coordinator refused some offsets for a reason other than a moved coordinator (409: the group is in use). */
export class OffsetCommitRefusedError extends Error {
  readonly status = 409;
  readonly details: readonly string[];
  constructor(message: string, details: readonly string[]) {
    super(message);
    this.name = 'OffsetCommitRefusedError';
    this.details = details;
  }
}

function isRetry(value: unknown): value is { retry: number; what?: string } {
  return typeof value === 'object' && value !== null && 'retry' in value && typeof (value as { retry: unknown }).retry === 'number';
}
