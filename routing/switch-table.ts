// The switch table: rules (config) + route assignment (state) → the cluster of a topic.
//
// A table version is an immutable RoutingSnapshot. Changing routes builds a new snapshot and swaps one reference,
// so a reader that took a snapshot keeps a consistent view (one Produce request resolves all its partitions
// against one version), and there is never a half-applied change to observe.
//
// `resolve` runs for every partition of every Produce request. Two caches keep it cheap:
// - the rules' topic → rule cache (CompiledRules.match): the prefix and regex scans run once per topic for the
//   life of the rules, across versions;
// - a per-snapshot topic → Resolution cache: the answer object is built once per topic per version. A new
//   version starts with an empty cache, which is how "invalidation on version change" works: nothing to
//   invalidate, the old cache goes away with the old snapshot.

import { BoundedMap } from './bounded-map.ts';
import { clusterOf, type Cluster, type RouteStateName } from './cluster.ts';
import { RouteConflictError } from './errors.ts';
import type { Rule, RuleMatch } from './rules.ts';
import { CompiledRules } from './rules.ts';
import type { RouteAssignment } from './route-state.ts';

/** The answer to "where does this topic go", and why. */
export interface Resolution {
  readonly topic: string;
  readonly cluster: Cluster;
  /** The batch whose rule claims the topic (also reported when a topic override decides), null for the default. */
  readonly batch: string | null;
  readonly rule: Rule;
  /** The route state that decided: the override's, the batch's, or for the default rule the default cluster. */
  readonly state: RouteStateName;
  /** The table version this answer belongs to. */
  readonly version: number;
}

export interface SwitchTableOptions {
  /** Bound of each snapshot's resolution cache. Default 10 000 topics. */
  readonly cacheSize?: number;
}

const EMPTY_ASSIGNMENT: RouteAssignment = Object.freeze({
  version: 0,
  batches: new Map<string, RouteStateName>(),
  topics: new Map<string, RouteStateName>(),
});

/** One immutable version of the table. */
export class RoutingSnapshot {
  readonly version: number;
  readonly rules: CompiledRules;
  readonly #batches: ReadonlyMap<string, RouteStateName>;
  readonly #topics: ReadonlyMap<string, RouteStateName>;
  readonly #cache: BoundedMap<string, Resolution>;

  constructor(rules: CompiledRules, assignment: RouteAssignment, cacheSize: number) {
    this.rules = rules;
    this.version = assignment.version;
    // Copies: the snapshot must not change if the caller later mutates the maps it passed in.
    this.#batches = new Map(assignment.batches);
    this.#topics = new Map(assignment.topics);
    this.#cache = new BoundedMap<string, Resolution>(cacheSize);
  }

  resolve(topic: string): Resolution {
    let found = this.#cache.get(topic);
    if (found === undefined) {
      found = this.#compute(topic, this.rules.match(topic));
      this.#cache.set(topic, found);
    }
    return found;
  }

  /** The state of a batch in this version; a batch never flipped is on `source`. */
  batchState(name: string): RouteStateName {
    return this.#batches.get(name) ?? 'source';
  }

  /** The topic's override in this version, or undefined when it follows its batch or the default. */
  topicOverride(topic: string): RouteStateName | undefined {
    return this.#topics.get(topic);
  }

  /** The state the rules alone give a topic (its batch's state, or the default), ignoring any override. */
  ruleState(topic: string): RouteStateName {
    const match = this.rules.match(topic);
    return match.batch !== null ? this.batchState(match.batch) : this.rules.default;
  }

  /** The route assignment of this snapshot (copies). */
  assignment(): RouteAssignment {
    return { version: this.version, batches: new Map(this.#batches), topics: new Map(this.#topics) };
  }

  get batchStates(): ReadonlyMap<string, RouteStateName> {
    return this.#batches;
  }

  get topicOverrides(): ReadonlyMap<string, RouteStateName> {
    return this.#topics;
  }

  #compute(topic: string, match: RuleMatch): Resolution {
    const override = this.#topics.get(topic);
    if (override !== undefined) {
      return Object.freeze({
        topic,
        cluster: clusterOf(override),
        batch: match.batch,
        rule: Object.freeze({ kind: 'topic-override', value: topic }),
        state: override,
        version: this.version,
      });
    }
    const state: RouteStateName = match.batch !== null ? this.batchState(match.batch) : this.rules.default;
    return Object.freeze({ topic, cluster: clusterOf(state), batch: match.batch, rule: match.rule, state, version: this.version });
  }
}

/**
 * Holds the current snapshot. `swap` installs a new version atomically (one reference assignment); versions
 * only go up.
 */
export class SwitchTable {
  readonly rules: CompiledRules;
  readonly #cacheSize: number;
  #current: RoutingSnapshot;

  constructor(rules: CompiledRules, assignment: RouteAssignment = EMPTY_ASSIGNMENT, options: SwitchTableOptions = {}) {
    this.rules = rules;
    this.#cacheSize = options.cacheSize ?? 10_000;
    this.#current = new RoutingSnapshot(rules, assignment, this.#cacheSize);
  }

  /** The current version. Keep the returned snapshot to resolve several topics against one version. */
  get snapshot(): RoutingSnapshot {
    return this.#current;
  }

  get version(): number {
    return this.#current.version;
  }

  resolve(topic: string): Resolution {
    return this.#current.resolve(topic);
  }

  /** Builds a snapshot for an assignment without installing it (plans and dry runs). */
  preview(assignment: RouteAssignment): RoutingSnapshot {
    return new RoutingSnapshot(this.rules, assignment, this.#cacheSize);
  }

  /**
   * Installs a new version. Throws if the version does not increase: a lower or equal version means two writers
   * raced, and silently installing it could move traffic back.
   */
  swap(assignment: RouteAssignment): RoutingSnapshot {
    if (assignment.version <= this.#current.version) {
      throw new RouteConflictError(
        `cannot install table version ${assignment.version}: the current version is ${this.#current.version} and versions only go up`,
      );
    }
    const next = new RoutingSnapshot(this.rules, assignment, this.#cacheSize);
    this.#current = next;
    return next;
  }
}
