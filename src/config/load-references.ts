// The load step, after parsing: reads what the config references (secrets from the environment or files,
// certificates that must be readable, the SASL credentials file). No zod transform does I/O; this does, once the
// document's structure is known.
//
// It walks the document along the schema, and at each node that holds references (withReferences in
// references.ts) builds that part on its own, which is pure, and loads its references. Working part by part rather
// than on the whole parsed config means that the secrets of every well-formed part are checked even when another
// part of the file is invalid, so the operator still gets every problem at once.

import type { z } from 'zod';
import { isReference, referenceBuilderOf, SecretReference, type Reference } from './references.ts';
import { innerSchema, type SchemaNode } from './schema-introspection.ts';
import { checkFile, readSecret } from './secrets.ts';

export type KeyPath = readonly (string | number)[];

export interface LoadProblem {
  readonly path: KeyPath;
  readonly message: string;
}

/** A part of the document whose references all loaded: its parsed value, references replaced. */
export interface LoadedPart {
  readonly path: KeyPath;
  readonly value: unknown;
}

export interface LoadedReferences {
  readonly parts: readonly LoadedPart[];
  readonly problems: readonly LoadProblem[];
}

/** Loads the references of every part of `document` that is valid on its own. */
export function loadReferences(document: unknown, schema: SchemaNode, env: NodeJS.ProcessEnv): LoadedReferences {
  const parts: LoadedPart[] = [];
  const problems: LoadProblem[] = [];
  visit(document, schema, []);
  return { parts, problems };

  function visit(value: unknown, node: SchemaNode, at: KeyPath): void {
    if (value === undefined || value === null) return;
    // A part with references may sit under wrappers (`.optional()`, `.default()`): look at each layer.
    let current = node;
    for (;;) {
      const build = referenceBuilderOf(current);
      if (build !== undefined) {
        loadPart(build(value), at);
        return;
      }
      const inner = innerSchema(current);
      if (inner === undefined) break;
      current = inner;
    }
    if (typeof value !== 'object') return;
    const def = current._zod.def;
    const container = value as Record<string, unknown>;
    if (def.type === 'object') {
      for (const [key, child] of Object.entries((def as z.core.$ZodObjectDef).shape)) visit(container[key], child, [...at, key]);
    } else if (def.type === 'record') {
      for (const key of Object.keys(container)) visit(container[key], (def as z.core.$ZodRecordDef).valueType, [...at, key]);
    } else if (def.type === 'array' && Array.isArray(value)) {
      value.forEach((element, i) => visit(element, (def as z.core.$ZodArrayDef).element, [...at, i]));
    }
  }

  function loadPart(built: unknown, at: KeyPath): void {
    if (built === undefined) return;
    let failed = false;
    const loaded = replaceReferences(built, [], (ref, within) => {
      const result = load(ref);
      if ('value' in result) return result.value;
      failed = true;
      for (const message of result.problems) problems.push({ path: [...at, ...within, ref.key], message });
      return undefined;
    });
    if (!failed) parts.push({ path: at, value: loaded });
  }

  function load(ref: Reference): { value: string } | { problems: string[] } {
    if (ref instanceof SecretReference) {
      const result = readSecret(ref, env);
      return 'value' in result ? result : { problems: [result.problem] };
    }
    const problems = checkFile(ref);
    return problems.length === 0 ? { value: ref.path } : { problems };
  }
}

/** A copy of `value` with each reference replaced by `replace(reference, path of the object holding it)`. */
function replaceReferences(value: unknown, at: KeyPath, replace: (ref: Reference, within: KeyPath) => unknown): unknown {
  if (isReference(value)) return replace(value, at.slice(0, -1));
  if (Array.isArray(value)) return value.map((element, i) => replaceReferences(element, [...at, i], replace));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, replaceReferences(v, [...at, key], replace)]));
  }
  return value;
}

/** Whether any reference is left in `value` (the config handed to the program must hold none). */
export function holdsAnyReference(value: unknown): boolean {
  if (isReference(value)) return true;
  if (Array.isArray(value)) return value.some(holdsAnyReference);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(holdsAnyReference);
  return false;
}

/** Puts each loaded part into the parsed document at its path (the parsed document keeps the input's keys). */
export function spliceLoadedParts(parsed: unknown, parts: readonly LoadedPart[]): void {
  for (const { path, value } of parts) {
    if (path.length === 0) throw new Error('internal: the config root cannot hold references');
    let container = parsed as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) container = container[key] as Record<string | number, unknown>;
    container[path[path.length - 1]] = value;
  }
}
