// Command-line options of `npm run bench -- <scenario> [--name value | --name=value | --flag]`.
// Every scenario declares its options with a default and a help line, so `--help` is always accurate and a
// misspelt option is an error instead of a silently ignored knob.

export interface OptionSpec {
  readonly default: number | string | boolean;
  readonly help: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** Parsed values, typed after their defaults. */
export type Options<S extends OptionSpecs> = { [K in keyof S]: S[K]['default'] extends number ? number : S[K]['default'] extends boolean ? boolean : string };

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseOptions<S extends OptionSpecs>(specs: S, argv: readonly string[]): Options<S> {
  const out: Record<string, number | string | boolean> = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}" (options look like --name value)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = specs[name];
    if (spec === undefined) throw new UsageError(`unknown option --${name}; known: ${Object.keys(specs).map((k) => `--${k}`).join(', ')}`);
    let raw: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (typeof spec.default === 'boolean') {
      out[name] = raw === undefined ? true : !/^(false|0|no)$/i.test(raw);
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    }
    if (typeof spec.default === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new UsageError(`--${name} expects a number, got "${raw}"`);
      out[name] = value;
    } else {
      out[name] = raw;
    }
  }
  return out as Options<S>;
}

export function describeOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const def = typeof s.default === 'boolean' ? '' : ` <${typeof s.default}>`;
    return [`  --${name}${def}`, `${s.help} (default: ${JSON.stringify(s.default)})`];
  });
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => a.padEnd(width) + b).join('\n');
}

/** Splits a comma-separated list option ("java,kafkajs") and checks every entry against the allowed names. */
export function listOption<T extends string>(name: string, value: string, allowed: readonly T[]): T[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new UsageError(`--${name}: unknown "${item}"; choose from ${allowed.join(', ')}`);
  }
  return items as T[];
}
