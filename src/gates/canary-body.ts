// The `canary` member of a batch flip's body (POST /v1/batches/{wave}/flip): strict, like the rest of the body.
import { z } from 'zod';

export const canaryBodySchema = z.strictObject({
  topics: z.array(z.string().min(1)).min(1, 'at least one canary topic').max(100),
  /** How long the canary topics are watched on the new cluster before the rest of the wave follows. */
  watchMs: z.number().int().positive().max(24 * 3600 * 1000),
  /** Largest tolerated share of failed writes, 0..1 (0.001 = 0.1 %). */
  maxErrorRate: z.number().min(0).max(1),
  maxP99Ms: z.number().positive().optional(),
  minWritesForLatency: z.number().int().positive().optional(),
});

export type CanaryBody = z.output<typeof canaryBodySchema>;
