// The SASL credentials file of a client-facing listener (`proxy.sasl.credentialsFile`): per user, salted SCRAM
// credentials, never a password. YAML or JSON:
//
//   users:
//     alice:
//       SCRAM-SHA-512: { salt: <base64>, iterations: 8192, storedKey: <base64>, serverKey: <base64> }
//       SCRAM-SHA-256: { salt: <base64>, iterations: 8192, storedKey: <base64>, serverKey: <base64> }
//
// `kmp sasl-credential --user alice` prints such an entry. PLAIN logins are checked against the SCRAM entry
// (the password is salted and hashed the same way and compared with StoredKey), so PLAIN needs no other entry.
// The file is validated strictly (unknown keys, bad base64, wrong key lengths, < 4096 iterations are errors,
// each reported with its path) and re-read on SIGHUP.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import {
  SCRAM_MECHANISMS, SCRAM_MIN_ITERATIONS, createScramCredential, hashOf, keyLengthOf, saltedPassword, verifyPassword,
  type ScramCredential, type ScramMechanism,
} from './scram.ts';

export class CredentialsFileError extends Error {
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[]) {
    super(`invalid SASL credentials file ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'CredentialsFileError';
    this.problems = problems;
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const base64 = (what: string) => z.string().regex(BASE64, `${what}: expected base64`).transform((s) => Buffer.from(s, 'base64'));

function scramEntrySchema(mechanism: ScramMechanism) {
  const keyLength = keyLengthOf(hashOf(mechanism));
  return z
    .strictObject({
      salt: base64('salt').refine((b) => b.length >= 8, 'salt: at least 8 bytes'),
      iterations: z.number().int('expected an integer').min(SCRAM_MIN_ITERATIONS, `at least ${SCRAM_MIN_ITERATIONS} (Kafka's minimum)`),
      storedKey: base64('storedKey').refine((b) => b.length === keyLength, `storedKey: expected ${keyLength} bytes for ${mechanism}`),
      serverKey: base64('serverKey').refine((b) => b.length === keyLength, `serverKey: expected ${keyLength} bytes for ${mechanism}`),
    })
    .transform((e): ScramCredential => ({ salt: e.salt, iterations: e.iterations, storedKey: e.storedKey, serverKey: e.serverKey }));
}

const userSchema = z
  .record(z.string(), z.unknown())
  .superRefine((entry, ctx) => {
    for (const key of Object.keys(entry)) {
      if (/^pass(word)?$/i.test(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'plaintext passwords are not accepted; store salted credentials (kmp sasl-credential --user NAME)' });
      } else if (!(SCRAM_MECHANISMS as readonly string[]).includes(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `unknown key; expected ${SCRAM_MECHANISMS.join(' or ')}` });
      }
    }
    if (!SCRAM_MECHANISMS.some((m) => m in entry)) ctx.addIssue({ code: 'custom', path: [], message: `no credentials: give ${SCRAM_MECHANISMS.join(' and/or ')}` });
  })
  .pipe(
    z.strictObject({
      'SCRAM-SHA-256': scramEntrySchema('SCRAM-SHA-256').optional(),
      'SCRAM-SHA-512': scramEntrySchema('SCRAM-SHA-512').optional(),
    }),
  );

const fileSchema = z.strictObject({
  users: z.record(z.string().min(1, 'empty username').max(256).regex(/^[^\u0000-\u001f]*$/, 'control characters in a username'), userSchema),
});

/** Users and their credentials; immutable (a reload builds a new store). */
export class CredentialStore {
  readonly #users: ReadonlyMap<string, Partial<Record<ScramMechanism, ScramCredential>>>;
  /** For unknown users PLAIN still spends one PBKDF2, so the answer's timing does not reveal who exists. */
  readonly #decoy = createScramCredential('sha512', 'decoy', { iterations: SCRAM_MIN_ITERATIONS });

  constructor(users: ReadonlyMap<string, Partial<Record<ScramMechanism, ScramCredential>>>) {
    this.#users = users;
  }

  static parse(document: unknown, source = '(inline)'): CredentialStore {
    const parsed = fileSchema.safeParse(document);
    if (!parsed.success) {
      throw new CredentialsFileError(source, parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message.replace(/^Invalid input: /, '')}`));
    }
    return new CredentialStore(new Map(Object.entries(parsed.data.users)));
  }

  static load(file: string): CredentialStore {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CredentialsFileError(file, [`(file): cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
    }
    let document: unknown;
    try {
      document = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
    } catch (error) {
      throw new CredentialsFileError(file, [`(file): not valid YAML/JSON: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`]);
    }
    return CredentialStore.parse(document, file);
  }

  get size(): number {
    return this.#users.size;
  }

  lookup(username: string, mechanism: ScramMechanism): ScramCredential | undefined {
    return this.#users.get(username)?.[mechanism];
  }

  /** Checks a PLAIN password against the user's SCRAM credentials (SHA-512 preferred). */
  async verifyPlain(username: string, password: string): Promise<boolean> {
    const entry = this.#users.get(username);
    const mechanism: ScramMechanism | undefined = entry?.['SCRAM-SHA-512'] ? 'SCRAM-SHA-512' : entry?.['SCRAM-SHA-256'] ? 'SCRAM-SHA-256' : undefined;
    if (entry === undefined || mechanism === undefined) {
      await saltedPassword('sha512', password, this.#decoy.salt, this.#decoy.iterations);
      return false;
    }
    return verifyPassword(hashOf(mechanism), entry[mechanism] as ScramCredential, password);
  }
}

/** One user's entry of a credentials file, as YAML, for a password (the `kmp sasl-credential` command). */
export function credentialsEntryYaml(username: string, password: string, mechanisms: readonly ScramMechanism[], iterations?: number): string {
  const entry: Record<string, Record<string, string | number>> = {};
  for (const m of mechanisms) {
    const c = createScramCredential(hashOf(m), password, iterations === undefined ? {} : { iterations });
    entry[m] = { salt: c.salt.toString('base64'), iterations: c.iterations, storedKey: c.storedKey.toString('base64'), serverKey: c.serverKey.toString('base64') };
  }
  return YAML.stringify({ users: { [username]: entry } });
}
