// Admin API routes of consumer moves (docs/admin-api.md, docs/migration-runbook.md):
//   GET  /v1/consumers[?wave=W]         viewer    per wave: groups, where each reads, lag, readiness
//   POST /v1/consumers/{group}/move     operator  { wave, dryRun?, reason?, direction? }: move a stopped group
// POST has the protections of the other writes: JSON content type required (no cross-site form can send it),
// a strict body, the caller's token name recorded in the audit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { HttpError, readJsonBody, sendJson } from '../admin/http.ts';
import type { AdminConsumers } from './setup.ts';

const moveBodySchema = z.strictObject({
  wave: z.string().min(1, 'the wave (batch) whose topics the group reads is required'),
  dryRun: z.boolean().optional(),
  reason: z.string().max(1000, 'at most 1000 characters').optional(),
  /** "to-target" (default): the group stopped on the source. "to-source": move it back. */
  direction: z.enum(['to-target', 'to-source']).optional(),
});

interface ConsumerRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly params: readonly string[];
  readonly principal: { readonly name: string };
}

const absent = (): never => {
  throw new HttpError(404, 'consumer moves are not enabled in this process');
};

export function consumerRoutes(consumers: AdminConsumers | undefined, maxBodyBytes: number) {
  return [
    {
      method: 'GET' as const, pattern: /^\/v1\/consumers$/, access: 'viewer' as const,
      read: async (ctx: ConsumerRequest) => {
        const wave = ctx.url.searchParams.get('wave');
        if (wave === '') throw new HttpError(400, 'wave: give a wave name, or leave the parameter out for every wave');
        sendJson(ctx.res, 200, await (consumers ?? absent()).list(wave ?? undefined));
      },
    },
    {
      method: 'POST' as const, pattern: /^\/v1\/consumers\/([^/]+)\/move$/, access: 'operator' as const,
      read: async (ctx: ConsumerRequest) => {
        const c = consumers ?? absent();
        const body = await readJsonBody(ctx.req, maxBodyBytes, moveBodySchema);
        const result = await c.move(ctx.params[0], {
          wave: body.wave,
          direction: body.direction ?? 'to-target',
          dryRun: body.dryRun ?? false,
          who: ctx.principal.name,
          reason: body.reason ?? '',
        });
        sendJson(ctx.res, 200, result);
      },
    },
  ];
}
