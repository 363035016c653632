// Environment overrides: `KMP_` + the key path, segments separated by a double underscore. Segments match keys
// case-insensitively and ignore single underscores, so `KMP_PROXY__LISTEN`, `KMP_PROXY__NODE_ID` and
// `KMP_FLIP__TIMEOUT_MS` address `proxy.listen`, `proxy.nodeId` and `flip.timeoutMs`. Values are converted to
// the key's type: numbers and booleans are parsed, a list of strings is comma-separated (`a:1,b:2`), and a value
// starting with `[` or `{` is parsed as YAML/JSON (e.g. a whole `admin.tokens` list). Variables without a `__`
// (KMP_ADMIN_URL, KMP_ADMIN_TOKEN of the CLI) are not config overrides and are ignored here.
//
// Overrides are applied to the document before it is validated, so an overridden value is checked like any
// other; the origins let error messages name the variable that set a bad value.

import YAML from 'yaml';
import type { z } from 'zod';
import { suggest } from './did-you-mean.ts';
import type { OverrideOrigins } from './errors.ts';
import { unwrap, type SchemaNode } from './schema-introspection.ts';

export interface OverrideResult {
  readonly document: unknown;
  /** key path (dot-joined) → the variable that set it, for error messages. */
  readonly origins: OverrideOrigins;
  readonly problems: readonly string[];
}

const ENV_PREFIX = 'KMP_';
const normalize = (segment: string) => segment.toLowerCase().replace(/[_-]/g, '');

/** Applies `KMP_A__B__C=value` overrides to a copy of the document. */
export function applyEnvOverrides(raw: unknown, schema: SchemaNode, env: NodeJS.ProcessEnv): OverrideResult {
  const document: unknown = structuredClone(raw);
  const origins = new Map<string, string>();
  const problems: string[] = [];
  const names = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && name.includes('__'))
    .sort();
  for (const name of names) {
    const value = env[name] as string;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    if (segments.some((s) => s === '')) {
      problems.push(`${name}: empty key segment`);
      continue;
    }
    const located = locate(document, schema, segments, name);
    if (typeof located === 'string') {
      problems.push(located);
      continue;
    }
    const converted = convert(value, located.leaf);
    if (typeof converted === 'object' && converted !== null && 'error' in converted) {
      problems.push(`${located.path.join('.')}: ${converted.error} (from environment variable ${name})`);
      continue;
    }
    located.parent[located.key] = converted.value;
    origins.set(located.path.join('.'), name);
  }
  return { document, origins, problems };
}

interface Located {
  readonly parent: Record<string | number, unknown>;
  readonly key: string | number;
  readonly leaf: SchemaNode;
  readonly path: readonly (string | number)[];
}

/** Walks the schema and the document together, creating intermediate objects the file did not have. */
function locate(document: unknown, schema: SchemaNode, segments: readonly string[], varName: string): Located | string {
  let node: SchemaNode = schema;
  let container = document as Record<string | number, unknown>;
  const at: (string | number)[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const def = unwrap(node)._zod.def;
    let key: string | number;
    let child: SchemaNode;
    if (def.type === 'object') {
      const shape = (def as z.core.$ZodObjectDef).shape;
      const found = Object.keys(shape).find((k) => normalize(k) === normalize(segment));
      if (found === undefined) {
        const hint = suggest(segment.toLowerCase(), Object.keys(shape));
        return `${varName}: no key "${segment.toLowerCase()}" under ${at.length === 0 ? 'the root' : at.join('.')}${hint === undefined ? '' : ` (did you mean ${hint}?)`}`;
      }
      key = found;
      child = shape[found];
    } else if (def.type === 'record') {
      // Record keys (batch names) are the user's: match an existing one loosely, else use the segment as written.
      key = Object.keys(container).find((k) => normalize(k) === normalize(segment)) ?? segment.toLowerCase();
      child = (def as z.core.$ZodRecordDef).valueType;
    } else if (def.type === 'array') {
      if (!/^\d+$/.test(segment)) return `${varName}: ${at.join('.')} is a list; expected an index, got "${segment}"`;
      key = Number(segment);
      child = (def as z.core.$ZodArrayDef).element;
    } else {
      return `${varName}: ${at.join('.')} is not an object, so it has no key "${segment}"`;
    }
    at.push(key);
    if (i === segments.length - 1) return { parent: container, key, leaf: child, path: at };
    const next = container[key];
    if (next === undefined || next === null) {
      const childType = unwrap(child)._zod.def.type;
      container[key] = childType === 'array' ? [] : {};
    } else if (typeof next !== 'object') {
      return `${varName}: ${at.join('.')} is not an object in the config file`;
    }
    container = container[key] as Record<string | number, unknown>;
    node = child;
  }
  return `${varName}: no key path`;
}

/** Converts an environment string to the type the schema expects at that key. */
function convert(value: string, leaf: SchemaNode): { value: unknown } | { error: string } {
  const def = unwrap(leaf)._zod.def;
  const trimmed = value.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      return { value: YAML.parse(trimmed) as unknown };
    } catch (error) {
      return { error: `not valid YAML/JSON: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` };
    }
  }
  switch (def.type) {
    case 'number':
      // Not a number: pass the string through so zod reports "expected number" with the path.
      return { value: trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : value };
    case 'boolean':
      if (/^(true|1|yes)$/i.test(trimmed)) return { value: true };
      if (/^(false|0|no)$/i.test(trimmed)) return { value: false };
      return { value };
    case 'array':
      return { value: trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim()) };
    case 'object':
    case 'record':
      return { error: 'this key holds an object; give it as JSON/YAML flow, e.g. {"key": "value"}' };
    default:
      return { value };
  }
}
