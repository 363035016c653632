// The program's logger: pino, JSON lines by default (for log shippers), a short human-readable line when stdout
// is a terminal. pino-pretty is deliberately not a dependency; the terminal format below is all a person at a
// console needs. Secrets never reach a log line: `redact` censors tokens, authorization headers and passwords
// wherever the program is likely to put them.

import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { LogLevel } from './config/index.ts';

export type { Logger };

/** Keys whose values are never logged. pino paths have no deep wildcard, so the likely nestings are listed. */
export const REDACTED_PATHS: readonly string[] = [
  'token',
  'password',
  'authorization',
  '*.token',
  '*.password',
  '*.authorization',
  '*.*.token',
  '*.*.password',
  'headers.authorization',
  'req.headers.authorization',
  'tokens[*].token',
  'admin.tokens[*].token',
  'config.admin.tokens[*].token',
  'clusters.*.sasl.password',
  'config.clusters.*.sasl.password',
];

export interface CreateLoggerOptions {
  readonly level?: LogLevel;
  /** Human-readable lines instead of JSON. Default: whether stdout is a TTY. */
  readonly pretty?: boolean;
  /** Where lines go. Default: stdout. */
  readonly destination?: DestinationStream;
  /** Fields on every line (e.g. `{ nodeId }`). */
  readonly base?: Record<string, unknown>;
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  // Synchronous writes: the proxy logs per connection and per route change, never per request, and a line
  // written before a crash or process.exit() must not be lost in a buffer.
  const target = options.destination ?? pino.destination({ dest: 1, sync: true });
  const loggerOptions: LoggerOptions = {
    level: options.level ?? 'info',
    base: options.base ?? null,
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(loggerOptions, pretty ? new HumanLines(target) : target);
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** `12:04:05.123 INFO  message key=value …`, one line per record; an `err` is shown with its stack below. */
export class HumanLines implements DestinationStream {
  readonly #out: DestinationStream;

  constructor(out: DestinationStream) {
    this.#out = out;
  }

  write(line: string): void {
    this.#out.write(formatHumanLine(line));
  }
}

export function formatHumanLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, msg, err, ...rest } = record;
  const clock = typeof time === 'string' ? time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  const levelName = (typeof level === 'number' ? LEVEL_NAMES[level] : undefined) ?? String(level);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  let out = `${clock} ${levelName.padEnd(5)} ${typeof msg === 'string' ? msg : ''}${fields === '' ? '' : ` ${fields}`}\n`;
  if (typeof err === 'object' && err !== null) {
    const stack = (err as { stack?: unknown }).stack;
    out += typeof stack === 'string' ? `${stack.replace(/^/gm, '    ')}\n` : `    ${JSON.stringify(err)}\n`;
  }
  return out;
}
