// One status line on stderr about every second while a phase runs, so a long run never looks hung; stdout stays
// free for whoever pipes the harness.

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Starts printing `render()` every `everyMs`, prefixed by the phase label and elapsed seconds; returns stop(). */
export function progress(label: string, render: () => string, everyMs = 1000): () => void {
  const started = performance.now();
  const timer = setInterval(() => {
    const elapsed = ((performance.now() - started) / 1000).toFixed(0).padStart(3);
    process.stderr.write(`[bench] ${label} ${elapsed}s  ${render()}\n`);
  }, everyMs);
  return () => clearInterval(timer);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
