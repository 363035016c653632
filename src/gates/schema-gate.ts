// The schema gate (issue #15 item 2): before topics move to the target, every schema id their producers use
// (sampled by the inventory, off the hot path) must resolve in the target registry to the same schema as in the
// source registry, under the same subjects, with the same compatibility level. Otherwise consumers of the target
// would decode with another schema, or fail to decode at all. A mismatch is a pre-flight refusal naming topic, id,
// subject and what differs (force overrides it, and the control plane records that in the audit). An id neither
// registry knows is reported as a warning: it is a producer bug, not something the migration changes.
//
// Schemas are compared in a canonical form, not as response bytes: registries reformat and add fields.
import type { Cluster } from '../../routing/cluster.ts';
import type { PreflightResult } from '../../routing/control-plane.ts';
import type { RegistryClient, RegistrySchema } from './registry-client.ts';
import type { SchemaPart } from './schema-refs.ts';

export type SchemaCheckStatus = 'same' | 'missing-on-target' | 'different' | 'unknown-to-both' | 'only-on-target';

export interface SchemaCheck {
  readonly topic: string;
  readonly id: number;
  readonly parts: readonly SchemaPart[];
  readonly status: SchemaCheckStatus;
  /** Subjects of the id in the source registry (the target's when only it knows the id). */
  readonly subjects: readonly string[];
  /** What differs, one sentence each; empty when status is 'same'. */
  readonly differences: readonly string[];
}

export interface SchemaGateReport {
  readonly checked: readonly SchemaCheck[];
  readonly refusals: readonly string[];
  readonly warnings: readonly string[];
}

/** Object keys sorted at every level; array order kept (it matters: Avro fields, union branches). */
function sortedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortedJson((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/** A form of the schema text in which formatting does not count: JSON re-serialized with sorted keys (Avro,
 *  JSON Schema); Protobuf with comments and runs of whitespace removed. */
export function canonicalSchema(s: RegistrySchema): string {
  const type = s.schemaType.toUpperCase();
  if (type === 'PROTOBUF') {
    return s.schema.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '').replace(/\s+/g, ' ').replace(/\s*([{};=,()<>\[\]])\s*/g, '$1').trim();
  }
  try {
    return JSON.stringify(sortedJson(JSON.parse(s.schema)));
  } catch {
    return s.schema.trim();
  }
}

const short = (text: string): string => (text.length > 160 ? `${text.slice(0, 157)}...` : text);
const refsText = (s: RegistrySchema): string => JSON.stringify([...s.references].map((r) => `${r.name}=${r.subject}@${r.version}`).sort());

export interface SchemaGateRegistries {
  readonly source: RegistryClient;
  readonly target: RegistryClient;
}

interface IdFacts {
  readonly source: RegistrySchema | null;
  readonly target: RegistrySchema | null;
  readonly sourceSubjects: readonly string[];
  readonly targetSubjects: readonly string[];
  /** Compatibility per subject on each side, for the subjects both registries have. */
  readonly compat: readonly { readonly subject: string; readonly source: string | null; readonly target: string | null }[];
}

async function factsOf(r: SchemaGateRegistries, id: number): Promise<IdFacts> {
  const [source, target, sv, tv] = await Promise.all([
    r.source.schemaById(id), r.target.schemaById(id), r.source.subjectVersionsOf(id), r.target.subjectVersionsOf(id),
  ]);
  const sourceSubjects = [...new Set(sv.map((v) => v.subject))].sort();
  const targetSubjects = [...new Set(tv.map((v) => v.subject))].sort();
  const shared = sourceSubjects.filter((s) => targetSubjects.includes(s));
  const compat = await Promise.all(shared.map(async (subject) => {
    const [a, b] = await Promise.all([r.source.compatibility(subject), r.target.compatibility(subject)]);
    return { subject, source: a, target: b };
  }));
  return { source, target, sourceSubjects, targetSubjects, compat };
}

function judge(topic: string, id: number, parts: readonly SchemaPart[], f: IdFacts): SchemaCheck {
  if (f.source === null && f.target === null) return { topic, id, parts, status: 'unknown-to-both', subjects: [], differences: [] };
  if (f.source === null) return { topic, id, parts, status: 'only-on-target', subjects: f.targetSubjects, differences: [] };
  if (f.target === null) {
    return { topic, id, parts, status: 'missing-on-target', subjects: f.sourceSubjects, differences: ['the target registry does not know the id'] };
  }
  const differences: string[] = [];
  if (f.source.schemaType.toUpperCase() !== f.target.schemaType.toUpperCase()) {
    differences.push(`schema type ${f.source.schemaType} on the source, ${f.target.schemaType} on the target`);
  }
  const a = canonicalSchema(f.source);
  const b = canonicalSchema(f.target);
  if (a !== b) differences.push(`schema differs: source ${short(a)}, target ${short(b)}`);
  if (refsText(f.source) !== refsText(f.target)) differences.push(`references differ: source ${refsText(f.source)}, target ${refsText(f.target)}`);
  const missingSubjects = f.sourceSubjects.filter((s) => !f.targetSubjects.includes(s));
  if (missingSubjects.length > 0) {
    differences.push(`subject(s) ${missingSubjects.join(', ')} do not have the id on the target (target: ${f.targetSubjects.join(', ') || 'none'})`);
  }
  for (const c of f.compat) {
    if (c.source !== c.target) differences.push(`subject ${c.subject}: compatibility ${c.source ?? 'unset'} on the source, ${c.target ?? 'unset'} on the target`);
  }
  return { topic, id, parts, status: differences.length === 0 ? 'same' : 'different', subjects: f.sourceSubjects, differences };
}

/** Checks the ids in use, per topic, against both registries. Throws when a registry cannot be asked. */
export async function checkSchemas(registries: SchemaGateRegistries, idsByTopic: ReadonlyMap<string, ReadonlyMap<number, readonly SchemaPart[]>>): Promise<SchemaGateReport> {
  const ids = new Set<number>();
  for (const m of idsByTopic.values()) for (const id of m.keys()) ids.add(id);
  const facts = new Map<number, IdFacts>();
  await Promise.all([...ids].map(async (id) => facts.set(id, await factsOf(registries, id))));
  const checked: SchemaCheck[] = [];
  const refusals: string[] = [];
  const warnings: string[] = [];
  for (const [topic, m] of [...idsByTopic].sort(([a], [b]) => a.localeCompare(b))) {
    for (const [id, parts] of [...m].sort(([a], [b]) => a - b)) {
      const c = judge(topic, id, parts, facts.get(id)!);
      checked.push(c);
      const where = `${topic}: schema id ${id} (${parts.join('/') || 'value'}; subject ${c.subjects.join(', ') || 'none'})`;
      if (c.status === 'missing-on-target') refusals.push(`${where} is not in the target registry`);
      else if (c.status === 'different') refusals.push(`${where} differs in the target registry: ${c.differences.join('; ')}`);
      else if (c.status === 'unknown-to-both') warnings.push(`${topic}: schema id ${id} is unknown to both registries (a producer bug, not a migration risk)`);
      else if (c.status === 'only-on-target') warnings.push(`${topic}: schema id ${id} is in the target registry only`);
    }
  }
  return { checked, refusals, warnings };
}

type Preflight = (topics: readonly string[], to: Cluster) => Promise<PreflightResult>;

/** The control plane's pre-flight with the schema gate added (moves to the target only, like the base checks). */
export function withSchemaGate(base: Preflight, gate: (topics: readonly string[]) => Promise<SchemaGateReport>): Preflight {
  return async (topics, to) => {
    const [a, b] = await Promise.all([base(topics, to), to === 'target' ? gate(topics) : Promise.resolve(null)]);
    if (b === null) return a;
    return { refusals: [...a.refusals, ...b.refusals].sort(), warnings: [...a.warnings, ...b.warnings].sort() };
  };
}
