// Config errors as the operator reads them: every problem at once, one `path: message` line each, the path
// spelt the way the file spells it (`clusters.target.bootstrap.0: expected host:port`), and the environment
// variable named when an override put the bad value there.

import type { z } from 'zod';
import { suggest } from './did-you-mean.ts';
import { objectShape, schemaAt, type SchemaNode } from './schema-introspection.ts';

export class ConfigError extends Error {
  /** One `path: message` entry per problem. */
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Key path (dot-joined) → the environment variable that set it. */
export type OverrideOrigins = ReadonlyMap<string, string>;

type Issue = z.core.$ZodIssue;

/** zod's issues as problem lines; unknown keys get a "did you mean" when a known key is close. */
export function formatIssues(issues: readonly Issue[], schema: SchemaNode, origins: OverrideOrigins): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const at = issue.path.map((p) => String(p));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const hint = suggest(key, Object.keys(objectShape(schemaAt(schema, at) ?? schema) ?? {}));
        lines.push(formatProblem([...at, key], `unknown key${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`, origins));
      }
      continue;
    }
    const message = issue.code === 'invalid_type' && /received undefined$/.test(issue.message) ? 'required' : simplify(issue.message);
    lines.push(formatProblem(at, message, origins));
  }
  return lines;
}

/** One problem line: `path: message`, plus the variable when the value came from the environment. */
export function formatProblem(path: readonly (string | number)[], message: string, origins: OverrideOrigins): string {
  const at = path.map((p) => String(p));
  return withOrigin(`${at.length === 0 ? '(root)' : at.join('.')}: ${message}`, at, origins);
}

/** zod's messages start with "Invalid input: " for type errors; the path already says where, so drop it. */
function simplify(message: string): string {
  return message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '');
}

function withOrigin(line: string, at: readonly string[], origins: OverrideOrigins): string {
  for (let n = at.length; n > 0; n--) {
    const origin = origins.get(at.slice(0, n).join('.'));
    if (origin !== undefined) return `${line} (from environment variable ${origin})`;
  }
  return line;
}
