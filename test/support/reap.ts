// Child processes a test file started (kmp instances, Java producers) that are still alive when the file's tests
// end are killed. A test that fails between starting a child and stopping it would otherwise leave the child
// running, and its pipes keep the test file's process — and with it the whole sequential `node --test` run —
// waiting forever. Registered on the file's root at the first import (ESM evaluates this module once per file).
// Outside the test runner (the benches import these helpers too) only the process's exit kills them: calling
// node:test's after() there would start a test run of its own.
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();
const reap = (): void => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
};
if (process.env.NODE_TEST_CONTEXT !== undefined) (await import('node:test')).after(reap);
process.once('exit', reap);

/** Kills `child` when the test file ends, unless it exited before. */
export function reapAtEnd(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}
