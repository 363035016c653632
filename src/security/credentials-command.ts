// `kmp sasl-credential USER`: prints a credentials-file entry (salted SCRAM credentials) for a password read
// from stdin or $KMP_SASL_PASSWORD, never from argv (visible to other users in `ps`).
import { credentialsEntryYaml } from './credentials.ts';
import { SCRAM_DEFAULT_ITERATIONS, SCRAM_MECHANISMS, SCRAM_MIN_ITERATIONS, type ScramMechanism } from './scram.ts';

export class CredentialCommandError extends Error {}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function runSaslCredential(opts: { user: string; mechanism?: string; iterations?: string }): Promise<number> {
  const mechanisms = (opts.mechanism ?? 'SCRAM-SHA-512,SCRAM-SHA-256').split(',').map((m) => m.trim().toUpperCase());
  for (const m of mechanisms) {
    if (!(SCRAM_MECHANISMS as readonly string[]).includes(m)) throw new CredentialCommandError(`--mechanism: ${m} is not one of ${SCRAM_MECHANISMS.join(', ')} (PLAIN logins use the SCRAM entry)`);
  }
  const iterations = opts.iterations === undefined ? SCRAM_DEFAULT_ITERATIONS : Number(opts.iterations);
  if (!Number.isInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS) throw new CredentialCommandError(`--iterations: expected an integer >= ${SCRAM_MIN_ITERATIONS}`);
  if (process.stdin.isTTY && process.env.KMP_SASL_PASSWORD === undefined) process.stderr.write(`password for ${opts.user} (then Ctrl-D): `);
  // Trailing newlines come from `echo` and editors; they are never part of a password.
  const password = (process.env.KMP_SASL_PASSWORD ?? (await readStdin())).replace(/[\r\n]+$/, '');
  if (password === '') throw new CredentialCommandError('empty password (give it on stdin or in $KMP_SASL_PASSWORD)');
  process.stdout.write(credentialsEntryYaml(opts.user, password, mechanisms as ScramMechanism[], iterations));
  return 0;
}
