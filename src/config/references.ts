// What parsing leaves for the load step. The schema (schema.ts) is pure: where the config names a secret
// (`tokenEnv: OPS_TOKEN`, `passwordFile: ./pw`) or a file the program reads later (certificates, the SASL
// credentials file), the parsed value holds a reference instead of the data, and load-references.ts reads them
// afterwards. Each reference records the config key it came from, so a load error still names the exact path
// (`admin.tokens.0.tokenEnv: environment variable OPS_TOKEN is not set`).

import { z } from 'zod';

/** Where a secret comes from; `file` is as written in the config (for messages), `path` absolute. */
export type SecretSource =
  | { readonly from: 'inline'; readonly value: string }
  | { readonly from: 'env'; readonly variable: string }
  | { readonly from: 'file'; readonly file: string; readonly path: string };

/** A secret to resolve: becomes its string value. */
export class SecretReference {
  /** The config key that gave it (`token`, `tokenEnv`, `tokenFile`): load errors are reported there. */
  readonly key: string;
  readonly source: SecretSource;

  constructor(key: string, source: SecretSource) {
    this.key = key;
    this.source = source;
  }
}

/**
 * A file the program reads later (certificates are re-read on SIGHUP, so only the path is kept): checked at load
 * time so that a typo stops the start, not the first handshake. Becomes its absolute path.
 */
export class FileReference {
  readonly key: string;
  readonly path: string;
  /** `readable`: any content; `credentials`: a valid SCRAM credentials file (src/security/credentials.ts). */
  readonly expect: 'readable' | 'credentials';

  constructor(key: string, path: string, expect: 'readable' | 'credentials') {
    this.key = key;
    this.path = path;
    this.expect = expect;
  }
}

export type Reference = SecretReference | FileReference;

export function isReference(value: unknown): value is Reference {
  return value instanceof SecretReference || value instanceof FileReference;
}

/** A parsed value with every reference replaced by what it loaded to (both kinds become strings). */
export type Loaded<T> = T extends Reference
  ? string
  : T extends readonly (infer E)[]
    ? Loaded<E>[]
    : T extends object
      ? { [K in keyof T]: Loaded<T[K]> }
      : T;

// Schema nodes whose output holds references, each with a way to build that output on its own. The load step
// walks the document, and at each such node builds the part's references from the raw value there and loads
// them: so the secrets and files of every part whose keys are well-formed are checked, and their problems
// reported, even when a cross-field rule of the same part or another part of the file fails.
const builders = new WeakMap<z.core.$ZodType, (raw: unknown) => unknown>();

/**
 * `input.transform(build)`, marked for the load step. `build` must be pure and must produce its output (with a
 * reference wherever it could make one) even after it reported an issue; it returns z.NEVER only when there is
 * nothing to build.
 */
export function withReferences<I extends z.ZodType, O>(
  input: I,
  build: (value: z.output<I>, ctx: z.RefinementCtx<z.output<I>>) => O,
) {
  const schema = input.transform(build);
  builders.set(schema, (raw) => {
    // Keys that are malformed are the main parse's to report; this part then has no references to load.
    const parsed = input.safeParse(raw);
    if (!parsed.success) return undefined;
    // Issues of `build` (cross-field rules) are reported by the main parse too; here only its output counts.
    const built: unknown = build(parsed.data, { value: parsed.data, issues: [], addIssue: () => {} });
    return built === z.NEVER ? undefined : built;
  });
  return schema;
}

/** For a schema made by withReferences: builds its output (references unloaded) from a raw value, if it can. */
export function referenceBuilderOf(schema: z.core.$ZodType): ((raw: unknown) => unknown) | undefined {
  return builders.get(schema);
}
