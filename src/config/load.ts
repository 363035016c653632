// Loading the config file: read it, parse YAML or JSON, apply KMP_* environment overrides, validate with the
// schema (pure), then load what it references (secrets, certificates, credentials files). Any problem, from
// any of these steps, ends in one ConfigError listing them all, so an invalid config refuses to start and says why.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { applyEnvOverrides } from './env-overrides.ts';
import { ConfigError, formatIssues, formatProblem } from './errors.ts';
import { holdsAnyReference, loadReferences, spliceLoadedParts, type LoadedPart, type LoadProblem } from './load-references.ts';
import { createConfigSchema, type AdminToken, type KmpConfig } from './schema.ts';

export interface LoadConfigOptions {
  /** Environment for overrides and `*Env` secrets. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Reads, overrides from the environment, validates, loads secrets. Throws ConfigError listing every problem. */
export function loadConfig(file: string, options: LoadConfigOptions = {}): KmpConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`(file): cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  const raw = parseConfigText(text, file);
  return parseConfig(raw, { env: options.env ?? process.env, baseDir: path.dirname(path.resolve(file)), source: file });
}

export interface ParseConfigOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Relative paths (state.file, tokenFile) resolve against this. Default: the working directory. */
  readonly baseDir?: string;
  /** Named in error messages. */
  readonly source?: string;
}

/** Validates an already-parsed document (environment overrides applied first), then loads what it references. */
export function parseConfig(raw: unknown, options: ParseConfigOptions = {}): KmpConfig {
  const env = options.env ?? process.env;
  const source = options.source ?? '(inline)';
  if (raw === null || raw === undefined) throw new ConfigError(source, ['(root): the config is empty']);
  const schema = createConfigSchema({ baseDir: options.baseDir ?? process.cwd() });
  const overridden = applyEnvOverrides(raw, schema, env);
  const parsed = schema.safeParse(overridden.document);
  // The load step runs even when parsing failed: it loads the parts that are valid on their own, so a missing
  // secret is reported together with a typo elsewhere rather than after it is fixed.
  const loaded = loadReferences(overridden.document, schema, env);
  const loadProblems: LoadProblem[] = [...loaded.problems, ...sameTokenValueTwice(loaded.parts)];
  const problems = [
    ...overridden.problems,
    ...(parsed.success ? [] : formatIssues(parsed.error.issues, schema, overridden.origins)),
    ...loadProblems.map((p) => formatProblem(p.path, p.message, overridden.origins)),
  ];
  if (problems.length > 0 || !parsed.success) throw new ConfigError(source, problems);
  spliceLoadedParts(parsed.data, loaded.parts);
  // Parsing succeeded and no load problem was found, so every part that holds references loaded and was spliced
  // in; checked rather than assumed, because a part the walk missed would hand the program a reference object
  // where it expects a string.
  if (holdsAnyReference(parsed.data)) throw new Error('internal: a config reference was left unloaded');
  // ParsedConfig and KmpConfig differ only in the references, which are all replaced now (checked just above).
  return parsed.data as unknown as KmpConfig;
}

/** Two names for one token value would make the audit's `who` ambiguous. Compared once the values are loaded. */
function sameTokenValueTwice(parts: readonly LoadedPart[]): LoadProblem[] {
  const problems: LoadProblem[] = [];
  const seen = new Set<string>();
  for (const { path: at, value } of parts) {
    if (at.length !== 3 || at[0] !== 'admin' || at[1] !== 'tokens') continue;
    // A loaded part at admin.tokens.N is that token's schema output with its secret loaded: an AdminToken.
    const { token } = value as AdminToken;
    if (seen.has(token)) problems.push({ path: at, message: 'the same token value is configured twice' });
    seen.add(token);
  }
  return problems;
}

/** YAML or JSON, by extension, else by content (JSON starts with `{`). */
export function parseConfigText(text: string, file: string): unknown {
  const ext = path.extname(file).toLowerCase();
  const isJson = ext === '.json' || (ext !== '.yaml' && ext !== '.yml' && text.trimStart().startsWith('{'));
  try {
    if (isJson) return JSON.parse(text);
    // uniqueKeys (the default) makes a key given twice an error instead of last-one-wins.
    return YAML.parse(text, { prettyErrors: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(file, [`(file): not valid ${isJson ? 'JSON' : 'YAML'}: ${message.split('\n')[0]}`]);
  }
}
