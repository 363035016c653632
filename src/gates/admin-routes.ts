// Admin API routes of the gates (docs/gates.md):
//   GET  /v1/waves/{wave}/prepare   viewer    the plan: what the target lacks for the wave
//   POST /v1/waves/{wave}/prepare   operator  apply: create the missing topics (never alters existing ones; audited)
//   GET  /v1/waves/{wave}/schemas   viewer    the schema gate for the wave's topics, as a flip would run it
// POST has the same protections as the other writes: JSON content type required (no cross-site form can send
// it), a strict body, the caller's token name recorded.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { HttpError, readJsonBody, sendJson } from '../admin/http.ts';
import { WaveNotFoundError, type AdminGates } from './setup.ts';

const applyBodySchema = z.strictObject({
  reason: z.string().max(1000, 'at most 1000 characters').optional(),
  /** Replicas per partition of the created topics; default -1 = the target broker's default. */
  replicationFactor: z.number().int().min(-1).max(32767).refine((n) => n !== 0, 'must be -1 or positive').optional(),
});

interface GateRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: readonly string[];
  readonly principal: { readonly name: string };
}

async function mapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof WaveNotFoundError) throw new HttpError(404, error.message);
    throw error;
  }
}

const absent = (): never => {
  throw new HttpError(404, 'the migration gates are not enabled in this process');
};

export function gateRoutes(gates: AdminGates | undefined, maxBodyBytes: number) {
  return [
    {
      method: 'GET' as const, pattern: /^\/v1\/waves\/([^/]+)\/prepare$/, access: 'viewer' as const,
      read: async (ctx: GateRequest) => sendJson(ctx.res, 200, await mapped(() => (gates ?? absent()).prepare(ctx.params[0]))),
    },
    {
      method: 'POST' as const, pattern: /^\/v1\/waves\/([^/]+)\/prepare$/, access: 'operator' as const,
      read: async (ctx: GateRequest) => {
        const g = gates ?? absent();
        const body = await readJsonBody(ctx.req, maxBodyBytes, applyBodySchema);
        const result = await mapped(() => g.applyPrepare(ctx.params[0], {
          who: ctx.principal.name,
          ...(body.reason !== undefined ? { reason: body.reason } : {}),
          ...(body.replicationFactor !== undefined ? { replicationFactor: body.replicationFactor } : {}),
        }));
        sendJson(ctx.res, 200, result);
      },
    },
    {
      method: 'GET' as const, pattern: /^\/v1\/waves\/([^/]+)\/schemas$/, access: 'viewer' as const,
      read: async (ctx: GateRequest) => {
        const report = await mapped(() => (gates ?? absent()).schemas(ctx.params[0]));
        if (report === null) throw new HttpError(404, 'no schemaRegistry is configured for both clusters: the schema gate is off');
        sendJson(ctx.res, 200, report);
      },
    },
  ];
}
