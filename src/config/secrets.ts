// Secrets and referenced files: admin tokens, passwords and key passphrases given inline, by environment variable
// or by file, and the files the program reads later (certificates, the SASL credentials file).
//
// Two halves, on either side of parsing. `secretReference` runs inside the schema and is pure: it checks that
// exactly one of `x`, `xEnv`, `xFile` is given and records which. `readSecret` and `checkFile` run in the load
// step, after parsing, and do the I/O; their problems carry the config key, so messages name the path.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { CredentialStore, CredentialsFileError } from '../security/credentials.ts';
import { FileReference, SecretReference } from './references.ts';

type SecretFields<K extends string> = { [P in K | `${K}Env` | `${K}File`]?: string | undefined };

/**
 * Which source of secret `field` the config gave. Adds an issue (and returns undefined) when more than one is
 * set, or none while `required`. Relative files resolve against `baseDir`, the config file's directory.
 */
export function secretReference<K extends string>(
  field: K,
  value: SecretFields<K>,
  ctx: z.RefinementCtx,
  options: { readonly required: boolean; readonly baseDir: string },
): SecretReference | undefined {
  const envKey = `${field}Env` as const;
  const fileKey = `${field}File` as const;
  const given = [field, envKey, fileKey].filter((k) => value[k as keyof SecretFields<K>] !== undefined);
  if (given.length > 1) {
    ctx.addIssue({ code: 'custom', path: [given[1]], message: `set only one of ${field}, ${envKey}, ${fileKey}` });
    return undefined;
  }
  if (given.length === 0) {
    if (options.required) ctx.addIssue({ code: 'custom', path: [field], message: `required: set one of ${field}, ${envKey}, ${fileKey}` });
    return undefined;
  }
  const inline = value[field as keyof SecretFields<K>];
  if (inline !== undefined) return new SecretReference(field, { from: 'inline', value: inline });
  const variable = value[envKey as keyof SecretFields<K>];
  if (variable !== undefined) return new SecretReference(envKey, { from: 'env', variable });
  // The filter above left exactly one key set, and it is neither the inline nor the env one.
  const file = value[fileKey as keyof SecretFields<K>] as string;
  return new SecretReference(fileKey, { from: 'file', file, path: path.resolve(options.baseDir, file) });
}

export type LoadResult = { readonly value: string } | { readonly problem: string };

/** The secret's value. An unset or empty variable and an unreadable or empty file are problems, not ''. */
export function readSecret(ref: SecretReference, env: NodeJS.ProcessEnv): LoadResult {
  const source = ref.source;
  switch (source.from) {
    case 'inline':
      return { value: source.value };
    case 'env': {
      const value = env[source.variable];
      if (value === undefined || value === '') return { problem: `environment variable ${source.variable} is not set` };
      return { value };
    }
    case 'file': {
      let text: string;
      try {
        text = readFileSync(source.path, 'utf8');
      } catch (error) {
        return { problem: `cannot read ${source.file}: ${errorCode(error)}` };
      }
      // Trailing newlines come from editors and `echo`; they are never part of a secret.
      const value = text.replace(/[\r\n]+$/, '');
      if (value === '') return { problem: `file ${source.file} is empty` };
      return { value };
    }
  }
}

/** Problems with a referenced file (none: it is there and, for a credentials file, valid). */
export function checkFile(ref: FileReference): string[] {
  if (ref.expect === 'credentials') {
    try {
      CredentialStore.load(ref.path);
      return [];
    } catch (error) {
      const problems = error instanceof CredentialsFileError ? error.problems : [String(error)];
      return problems.map((p) => `${ref.path}: ${p}`);
    }
  }
  try {
    readFileSync(ref.path);
    return [];
  } catch (error) {
    return [`cannot read ${ref.path}: ${errorCode(error)}`];
  }
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}
