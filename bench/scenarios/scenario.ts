// The shape of a bench scenario: its options (with defaults and help) and a run function. bench/run.ts lists them.
import type { OptionSpecs } from '../lib/args.ts';

export interface Scenario {
  readonly name: string;
  /** One line for `npm run bench -- --help`. */
  readonly summary: string;
  readonly options: OptionSpecs;
  /** Runs with the raw arguments after the scenario name; resolves when the result files are written. */
  run(argv: readonly string[]): Promise<void>;
}
