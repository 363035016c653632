// Schema introspection: the environment overrides, the "did you mean" hints and the load step all need to know,
// for a key path, what the schema expects there. Wrappers (optional, default, pipe/transform) are looked through.

import type { z } from 'zod';

export type SchemaNode = z.core.$ZodType;

/** The next schema inside a wrapper (optional, default, nullable, prefault, pipe), or undefined when none. */
export function innerSchema(node: SchemaNode): SchemaNode | undefined {
  const def = node._zod.def;
  if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') {
    return (def as z.core.$ZodOptionalDef).innerType;
  }
  if (def.type === 'pipe') return (def as z.core.$ZodPipeDef).in;
  return undefined;
}

export function unwrap(node: SchemaNode): SchemaNode {
  let current = node;
  for (let inner = innerSchema(current); inner !== undefined; inner = innerSchema(current)) current = inner;
  return current;
}

export function objectShape(node: SchemaNode): Record<string, SchemaNode> | undefined {
  const def = unwrap(node)._zod.def;
  return def.type === 'object' ? (def as z.core.$ZodObjectDef).shape : undefined;
}

/** The schema found at a key path of the document (record keys and list indexes step into the values). */
export function schemaAt(schema: SchemaNode, at: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode = schema;
  for (const segment of at) {
    const def = unwrap(node)._zod.def;
    if (def.type === 'object') {
      const child: SchemaNode | undefined = (def as z.core.$ZodObjectDef).shape[segment];
      if (child === undefined) return undefined;
      node = child;
    } else if (def.type === 'record') {
      node = (def as z.core.$ZodRecordDef).valueType;
    } else if (def.type === 'array') {
      node = (def as z.core.$ZodArrayDef).element;
    } else {
      return undefined;
    }
  }
  return node;
}
