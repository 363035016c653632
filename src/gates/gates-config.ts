// The `gates` section of the config (docs/gates.md): how often bypass detection reads the old cluster, how long a
// bypass write keeps blocking promotion. Kept beside the gates; src/config/schema.ts embeds it.
import { z } from 'zod';

const positiveInt = () => z.number().int('expected an integer').positive('must be > 0');

export const GATES_DEFAULTS = { bypass: { intervalMs: 2_000, windowMs: 300_000 } } as const;

export const gatesConfigSchema = z
  .strictObject({
    bypass: z
      .strictObject({
        /** Log-end offsets of moved partitions are read on the old cluster this often. */
        intervalMs: positiveInt().min(100, 'at least 100 ms').default(GATES_DEFAULTS.bypass.intervalMs),
        /** Promotion is refused while a bypass write was seen within this long. */
        windowMs: positiveInt().default(GATES_DEFAULTS.bypass.windowMs),
      })
      .default({ ...GATES_DEFAULTS.bypass }),
  })
  .default({ bypass: { ...GATES_DEFAULTS.bypass } });

export type GatesConfig2 = z.output<typeof gatesConfigSchema>;
