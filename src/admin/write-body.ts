// The body of every admin write (docs/design.md §6). Strict: an unknown field (say `dryrun`) is a 400, not a real flip.
import { z } from 'zod';

export const writeBodySchema = z.strictObject({
  reason: z.string().max(1000, 'at most 1000 characters').optional(),
  dryRun: z.boolean().default(false),
  force: z.boolean().default(false),
});

export type WriteBody = z.output<typeof writeBodySchema>;
