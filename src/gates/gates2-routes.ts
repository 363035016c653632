// Admin API routes of gates part 2 (docs/gates.md, docs/admin-api.md):
//   GET /v1/bypass                  viewer  bypass detection: watched partitions, active bypass, recent writes,
//                                           fleet alarms (`?check=true`: check now first)
//   GET /v1/operations              viewer  long-running operations (canary flips), newest last
//   GET /v1/operations/{id}         viewer  one operation's progress
//   GET /v1/topics/{topic}/evidence viewer  `kmp status --topic T`: route, per-cluster evidence, bypass, schema ids
// The canary itself starts from the batch flip route (POST /v1/batches/{wave}/flip with a `canary` member).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, sendJson } from '../admin/http.ts';
import type { BoundMigrationGates } from './migration-gates.ts';

interface GateRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly params: readonly string[];
}

const absent = (): never => {
  throw new HttpError(404, 'bypass detection and canary flips are not enabled in this process');
};

export function gates2Routes(gates: BoundMigrationGates | undefined) {
  return [
    {
      method: 'GET' as const, pattern: /^\/v1\/bypass$/, access: 'viewer' as const,
      read: async (ctx: GateRequest) => {
        const g = gates ?? absent();
        const check = ctx.url.searchParams.get('check');
        if (check !== null && check !== 'true' && check !== 'false') throw new HttpError(400, `check: expected "true" or "false", got "${check}"`);
        if (check === 'true') await g.detector.check();
        sendJson(ctx.res, 200, g.detector.report());
      },
    },
    {
      method: 'GET' as const, pattern: /^\/v1\/operations$/, access: 'viewer' as const,
      read: async (ctx: GateRequest) => sendJson(ctx.res, 200, { operations: (gates ?? absent()).operations.list() }),
    },
    {
      method: 'GET' as const, pattern: /^\/v1\/operations\/([^/]+)$/, access: 'viewer' as const,
      read: async (ctx: GateRequest) => {
        const op = (gates ?? absent()).operations.get(ctx.params[0]);
        if (op === null) throw new HttpError(404, `no operation "${ctx.params[0]}" (operations are kept in memory: the newest 100 of this process)`);
        sendJson(ctx.res, 200, op);
      },
    },
    {
      method: 'GET' as const, pattern: /^\/v1\/topics\/([^/]+)\/evidence$/, access: 'viewer' as const,
      read: async (ctx: GateRequest) => sendJson(ctx.res, 200, (gates ?? absent()).topicStatus(ctx.params[0])),
    },
  ];
}
