// The body of every admin write (docs/design.md §6). Strict: an unknown field (say `dryrun`) is a 400, not a real flip.
import { z } from 'zod';
import { canaryBodySchema } from '../gates/canary-body.ts';

export const writeBodySchema = z.strictObject({
  reason: z.string().max(1000, 'at most 1000 characters').optional(),
  dryRun: z.boolean().default(false),
  force: z.boolean().default(false),
  /** Batch flips only: flip these topics first and watch them (src/gates/canary.ts). */
  canary: canaryBodySchema.optional(),
});

export type WriteBody = z.output<typeof writeBodySchema>;
