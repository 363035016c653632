// The routing rules declared in the config file (`routes:` section, docs/design.md §7): a default cluster and named
// batches (waves) of exact topic names, prefixes and regular expressions. Rules never say which side a batch is
// on: that is route *state*, kept in the state store (route-state.ts), so editing the config cannot flip traffic.
//
// This module validates the rules (zod, every error names the path of the bad key) and compiles them into a
// matcher that answers "which rule claims this topic", the part of a lookup that does not depend on state.

import { BoundedMap } from './bounded-map.ts';
import { z } from 'zod';
import type { Cluster } from './cluster.ts';
import { ValidationError } from './errors.ts';

/** Kafka's own rule for topic names: 1-249 characters of [a-zA-Z0-9._-]. */
export const TOPIC_NAME_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
/**
 * Batch names appear in admin URLs (`/v1/batches/{name}/flip`), so they are URL-safe. They start with a letter
 * because JavaScript orders integer-like object keys first, which would silently reorder the batches and so the
 * precedence of their patterns ("first matching regex in declaration order").
 */
export const BATCH_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._-]{0,127}$/;

export function isValidTopicName(name: string): boolean {
  return TOPIC_NAME_PATTERN.test(name);
}

const topicNameSchema = z
  .string()
  .regex(TOPIC_NAME_PATTERN, 'must be a Kafka topic name: 1-249 characters of letters, digits, ".", "_" and "-"');

const batchRulesSchema = z
  .object({
    topics: z.array(topicNameSchema).default([]),
    prefixes: z
      .array(z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'must be 1-249 characters of letters, digits, ".", "_" and "-"'))
      .default([]),
    patterns: z.array(z.string().min(1, 'must not be empty')).default([]),
  })
  .strict();

/**
 * Schema of the `routes` config section. Exported so the config loader can embed it: the cross-field checks
 * (a topic in two batches, a duplicate prefix, an invalid regex) run inside it and report the exact path.
 */
export const routesConfigSchema = z
  .object({
    default: z.enum(['source', 'target']).default('source'),
    batches: z
      // Key names are checked in superRefine: zod's own record-key error does not say what is wrong.
      .record(z.string(), batchRulesSchema)
      .default({}),
  })
  .strict()
  .superRefine((routes, ctx) => {
    const topicOwner = new Map<string, string>();
    const prefixOwner = new Map<string, string>();
    const patternOwner = new Map<string, string>();
    for (const [batch, rules] of Object.entries(routes.batches)) {
      if (!BATCH_NAME_PATTERN.test(batch)) {
        ctx.addIssue({
          code: 'custom',
          path: ['batches', batch],
          message: `batch name "${batch}" is invalid: batch names start with a letter and use only letters, digits, ".", "_" and "-" (at most 128)`,
        });
      }
      rules.topics.forEach((topic, i) => {
        const owner = topicOwner.get(topic);
        if (owner !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['batches', batch, 'topics', i],
            message:
              owner === batch
                ? `topic "${topic}" is listed twice in batch "${batch}"`
                : `topic "${topic}" is listed in two batches, "${owner}" and "${batch}": a topic belongs to one batch`,
          });
        } else {
          topicOwner.set(topic, batch);
        }
      });
      rules.prefixes.forEach((prefix, i) => {
        const owner = prefixOwner.get(prefix);
        if (owner !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['batches', batch, 'prefixes', i],
            message: `prefix "${prefix}" is declared in "${owner}" and again in "${batch}": equal prefixes are ambiguous`,
          });
        } else {
          prefixOwner.set(prefix, batch);
        }
      });
      rules.patterns.forEach((pattern, i) => {
        try {
          new RegExp(pattern);
        } catch (error) {
          ctx.addIssue({
            code: 'custom',
            path: ['batches', batch, 'patterns', i],
            message: `pattern "${pattern}" is not a valid regular expression: ${error instanceof Error ? error.message : String(error)}`,
          });
          return;
        }
        const owner = patternOwner.get(pattern);
        if (owner !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['batches', batch, 'patterns', i],
            message: `pattern "${pattern}" is declared in "${owner}" and again in "${batch}": the second one would never match`,
          });
        } else {
          patternOwner.set(pattern, batch);
        }
      });
    }
  });

/** The validated `routes` section. */
export type RoutesConfig = z.output<typeof routesConfigSchema>;
export type RoutesConfigInput = z.input<typeof routesConfigSchema>;

export type RuleKind = 'exact' | 'prefix' | 'pattern' | 'default' | 'topic-override';

/** Which rule decided a topic's route. `value` is the topic, prefix, pattern source, or the default cluster. */
export interface Rule {
  readonly kind: RuleKind;
  readonly value: string;
}

/** The answer of the rules alone (no state): the rule that claims a topic and the batch it belongs to. */
export interface RuleMatch {
  readonly batch: string | null;
  readonly rule: Rule;
}

export interface BatchRules {
  readonly name: string;
  readonly topics: readonly string[];
  readonly prefixes: readonly string[];
  readonly patterns: readonly string[];
}

interface CompiledPattern {
  readonly regex: RegExp;
  readonly match: RuleMatch;
}

export interface CompileOptions {
  /** Bound of the topic → rule cache shared by every table version built on these rules. Default 10 000. */
  readonly cacheSize?: number;
}

/**
 * Rules compiled for lookup. Immutable; the rule-match cache lives as long as the rules, because which rule
 * claims a topic never changes while the rules do not (only the state of the claiming batch does).
 */
export class CompiledRules {
  readonly default: Cluster;
  /** Batches in declaration order. */
  readonly batches: readonly BatchRules[];
  readonly #batchByName: ReadonlyMap<string, BatchRules>;
  readonly #exact: ReadonlyMap<string, RuleMatch>;
  /** Longest first, so the first hit is the longest matching prefix. */
  readonly #prefixes: readonly { readonly prefix: string; readonly match: RuleMatch }[];
  /** Declaration order: batches in config order, patterns in list order within a batch. */
  readonly #patterns: readonly CompiledPattern[];
  readonly #defaultMatch: RuleMatch;
  readonly #cache: BoundedMap<string, RuleMatch>;

  constructor(config: RoutesConfig, options: CompileOptions = {}) {
    this.default = config.default;
    const batches: BatchRules[] = [];
    const exact = new Map<string, RuleMatch>();
    const prefixes: { prefix: string; match: RuleMatch }[] = [];
    const patterns: CompiledPattern[] = [];
    for (const [name, rules] of Object.entries(config.batches)) {
      batches.push(Object.freeze({ name, topics: [...rules.topics], prefixes: [...rules.prefixes], patterns: [...rules.patterns] }));
      for (const topic of rules.topics) exact.set(topic, freezeMatch(name, 'exact', topic));
      for (const prefix of rules.prefixes) prefixes.push({ prefix, match: freezeMatch(name, 'prefix', prefix) });
      for (const source of rules.patterns) patterns.push({ regex: new RegExp(source), match: freezeMatch(name, 'pattern', source) });
    }
    prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
    this.batches = Object.freeze(batches);
    this.#batchByName = new Map(batches.map((b) => [b.name, b]));
    this.#exact = exact;
    this.#prefixes = prefixes;
    this.#patterns = patterns;
    this.#defaultMatch = Object.freeze({ batch: null, rule: Object.freeze({ kind: 'default', value: config.default }) });
    this.#cache = new BoundedMap<string, RuleMatch>(options.cacheSize ?? 10_000);
  }

  batch(name: string): BatchRules | undefined {
    return this.#batchByName.get(name);
  }

  hasBatch(name: string): boolean {
    return this.#batchByName.has(name);
  }

  /** exact > longest prefix > first matching regex (declaration order) > default. Cached per topic. */
  match(topic: string): RuleMatch {
    let found = this.#cache.get(topic);
    if (found === undefined) {
      found = this.#scan(topic);
      this.#cache.set(topic, found);
    }
    return found;
  }

  #scan(topic: string): RuleMatch {
    const exact = this.#exact.get(topic);
    if (exact !== undefined) return exact;
    for (const { prefix, match } of this.#prefixes) {
      if (topic.startsWith(prefix)) return match;
    }
    for (const pattern of this.#patterns) {
      // No `g`/`y` flags are ever set, so test() keeps no lastIndex state between calls.
      if (pattern.regex.test(topic)) return pattern.match;
    }
    return this.#defaultMatch;
  }
}

function freezeMatch(batch: string, kind: RuleKind, value: string): RuleMatch {
  return Object.freeze({ batch, rule: Object.freeze({ kind, value }) });
}

/** Formats zod issues as `path: message` lines, the path written the way the config file spells it. */
export function formatZodIssues(error: z.ZodError, pathPrefix: readonly (string | number)[] = []): string {
  return error.issues
    .map((issue) => {
      const path = [...pathPrefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
      return `${path.length > 0 ? path.join('.') : '(root)'}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Validates and compiles the `routes` section. Throws a ValidationError that names every bad key, e.g.
 * `routes.batches.wave-2.patterns.0: pattern "^(logs" is not a valid regular expression: ...`.
 */
export function compileRules(input: unknown, options: CompileOptions = {}): CompiledRules {
  const parsed = routesConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(`invalid routing rules: ${formatZodIssues(parsed.error, ['routes'])}`, { cause: parsed.error });
  }
  return new CompiledRules(parsed.data, options);
}
