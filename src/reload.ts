// SIGHUP: re-reads certificates, keys, CAs and credentials files. Each part is tried on its own: what fails to
// load keeps its previous value (open connections are never touched) and is reported, the rest still reloads.

/** Runs one reload step; a failure is recorded and logged instead of thrown. */
export type ReloadAttempt = (what: string, fn: () => void) => void;

interface ReloadLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Runs every step in order and returns what failed ("what: why"). */
export function reloadAll(log: ReloadLog, steps: readonly ((attempt: ReloadAttempt) => void)[]): { errors: string[] } {
  const errors: string[] = [];
  const attempt: ReloadAttempt = (what, fn) => {
    try {
      fn();
      log.info({ what }, 'reloaded');
    } catch (err) {
      errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      log.error({ what, err: err instanceof Error ? err.message : String(err) }, 'reload failed; the previous settings stay in force');
    }
  };
  for (const step of steps) step(attempt);
  return { errors };
}
