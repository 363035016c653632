// CPU and memory of another process from Linux /proc: the proxy's own cost, measured from outside so that the
// measurement adds nothing to the proxy. CPU is utime+stime (clock ticks) from /proc/<pid>/stat, memory is VmRSS
// (and VmHWM, the kernel's own peak) from /proc/<pid>/status.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let clockTicks: number | null = null;

/** USER_HZ: the unit of utime/stime. Almost always 100, but ask once instead of assuming. */
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Seconds of CPU (user + system) the process has used so far; null once it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state is field 3, so utime (14) and stime (15) are at indexes 11 and 12 here.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

export interface MemoryInfo {
  rssMiB: number;
  /** Peak RSS over the process's life (VmHWM). */
  hwmMiB: number;
}

export function memoryOf(pid: number): MemoryInfo | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

export interface ProcWindow {
  wallSeconds: number;
  cpuSeconds: number;
  /** CPU time / wall time in percent of one core (200 % = both cores of this machine busy). */
  cpuPercent: number;
  rssStartMiB: number;
  rssEndMiB: number;
  /** Highest VmRSS sampled during the window (sampled every `intervalMs`). */
  rssPeakMiB: number;
}

/**
 * Samples a process every `intervalMs` (VmRSS) and measures CPU over windows: `begin()` returns a handle whose
 * `end()` gives CPU seconds, CPU %, and the RSS peak seen in between.
 */
export class ProcSampler {
  readonly pid: number;
  #timer: ReturnType<typeof setInterval>;
  #windows = new Set<{ peak: number }>();
  #lastRss = Number.NaN;

  constructor(pid: number, intervalMs = 200) {
    this.pid = pid;
    this.#timer = setInterval(() => this.#sample(), intervalMs);
    this.#timer.unref();
    this.#sample();
  }

  #sample(): void {
    const mem = memoryOf(this.pid);
    if (mem === null) return;
    this.#lastRss = mem.rssMiB;
    for (const w of this.#windows) w.peak = Math.max(w.peak, mem.rssMiB);
  }

  get rssMiB(): number {
    this.#sample();
    return this.#lastRss;
  }

  begin(): { end(): ProcWindow } {
    this.#sample();
    const started = performance.now();
    const cpu0 = cpuSeconds(this.pid) ?? Number.NaN;
    const rss0 = this.#lastRss;
    const w = { peak: rss0 };
    this.#windows.add(w);
    return {
      end: (): ProcWindow => {
        this.#sample();
        this.#windows.delete(w);
        const wall = (performance.now() - started) / 1000;
        const cpu = (cpuSeconds(this.pid) ?? Number.NaN) - cpu0;
        return { wallSeconds: wall, cpuSeconds: cpu, cpuPercent: (100 * cpu) / wall, rssStartMiB: rss0, rssEndMiB: this.#lastRss, rssPeakMiB: w.peak };
      },
    };
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
