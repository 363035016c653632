// The admin API's route table: every endpoint with its method, path pattern, required role and what it does.
// server.ts owns the order of checks (authentication, route, method, role, body) and runs a route's read or
// write; the routes of gates, consumers and migration gates come from their own modules.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AdminRole } from '../config/index.ts';
import type { Principal } from './auth.ts';
import type { OperationResult, WriteOptions } from './control-plane-port.ts';
import type { Readiness } from '../cluster-health.ts';
import { HttpError, sendJson, sendText } from './http.ts';
import { gateRoutes } from '../gates/admin-routes.ts';
import { consumerRoutes } from '../consumers/admin-routes.ts';
import { gates2Routes } from '../gates/gates2-routes.ts';
import { pageOf, pageQueryOf } from './paging.ts';
import type { AdminServerOptions } from './server.ts';

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly params: readonly string[];
  readonly principal: Principal;
}

export type Access = 'open' | AdminRole;

export interface Route {
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly access: Access;
  /** Writes read and validate a body, and are logged. */
  readonly write?: (ctx: RequestContext, options: WriteOptions) => Promise<OperationResult>;
  /** The route accepts a `canary` member (batch flip): it then starts a canary operation (src/gates/canary.ts). */
  readonly canary?: boolean;
  readonly read?: (ctx: RequestContext) => Promise<void>;
}

const SEGMENT = '([^/]+)';

export function adminRoutes(options: AdminServerOptions, log: Logger, maxBodyBytes: number): readonly Route[] {
  const cp = options.controlPlane;
  const reply = (ctx: RequestContext, body: unknown) => sendJson(ctx.res, 200, body);

  return [
    { method: 'GET', pattern: /^\/healthz$/, access: 'open', read: async (ctx) => reply(ctx, { status: 'ok' }) },
    {
      method: 'GET',
      pattern: /^\/readyz$/,
      access: 'open',
      read: async (ctx) => {
        const require = ctx.url.searchParams.get('require');
        if (require !== null && require !== 'all' && require !== 'any') throw new HttpError(400, `require: expected "all" or "any", got "${require}"`);
        let body: Readiness | { ready: boolean };
        try {
          const answer = await options.ready({ requireAll: require === 'all' });
          body = typeof answer === 'boolean' ? { ready: answer } : answer;
        } catch (error) {
          log.warn({ err: error }, 'readiness check failed');
          body = { ready: false };
        }
        sendJson(ctx.res, body.ready ? 200 : 503, body);
      },
    },
    {
      method: 'GET',
      pattern: /^\/metrics$/,
      access: 'viewer',
      read: async (ctx) => sendText(ctx.res, 200, options.registry.contentType, await options.registry.metrics()),
    },
    { method: 'GET', pattern: /^\/v1\/routes$/, access: 'viewer', read: async (ctx) => reply(ctx, cp.routes()) },
    {
      method: 'GET',
      pattern: /^\/v1\/fleet$/,
      access: 'viewer',
      read: async (ctx) => {
        if (options.fleet === undefined) throw new HttpError(404, 'this instance runs without a fleet (no `fleet:` in its config)');
        reply(ctx, options.fleet());
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/routes\/resolve$/,
      access: 'viewer',
      read: async (ctx) => {
        const topic = ctx.url.searchParams.get('topic');
        if (topic === null || topic === '') throw new HttpError(400, 'topic: the query parameter is required (/v1/routes/resolve?topic=NAME)');
        reply(ctx, cp.resolve(topic));
      },
    },
    { method: 'GET', pattern: /^\/v1\/status$/, access: 'viewer', read: async (ctx) => reply(ctx, await options.status()) },
    {
      method: 'GET',
      pattern: /^\/v1\/audit$/,
      access: 'viewer',
      read: async (ctx) => {
        const query = pageQueryOf(ctx.url);
        reply(ctx, cp.auditPage?.(query) ?? pageOf(cp.audit(), query, (e) => e.seq));
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/ledger$/,
      access: 'viewer',
      read: async (ctx) => {
        const topic = ctx.url.searchParams.get('topic');
        const query = { ...pageQueryOf(ctx.url), ...(topic !== null ? { topic } : {}) };
        if (cp.ledgerPage !== undefined) {
          reply(ctx, cp.ledgerPage(query));
          return;
        }
        // Positions are 1-based indexes into the whole ledger, so cursors mean the same with or without a topic.
        const rows = cp.ledger().map((entry, i) => ({ entry, position: i + 1 })).filter((r) => topic === null || r.entry.topic === topic);
        const paged = pageOf(rows, query, (r) => r.position);
        reply(ctx, { ...paged, entries: paged.entries.map((r) => r.entry) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/inventory$/,
      access: 'viewer',
      read: async (ctx) => {
        if (options.inventory === undefined) throw new HttpError(404, 'the producer inventory is not enabled in this process');
        const topic = ctx.url.searchParams.get('topic');
        const topics = options.inventory().filter((t) => topic === null || t.topic === topic);
        reply(ctx, { topics });
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/transactions$/,
      access: 'viewer',
      read: async (ctx) => {
        if (options.transactions === undefined) throw new HttpError(404, 'transactional producers are not enabled in this process');
        reply(ctx, options.transactions());
      },
    },
    { method: 'POST', pattern: new RegExp(`^/v1/batches/${SEGMENT}/flip$`), access: 'operator', write: (ctx, o) => cp.flipBatch(ctx.params[0], o), canary: true },
    { method: 'POST', pattern: new RegExp(`^/v1/batches/${SEGMENT}/rollback$`), access: 'operator', write: (ctx, o) => cp.rollbackBatch(ctx.params[0], o) },
    { method: 'POST', pattern: new RegExp(`^/v1/batches/${SEGMENT}/promote$`), access: 'operator', write: (ctx, o) => cp.promoteBatch(ctx.params[0], o) },
    { method: 'POST', pattern: new RegExp(`^/v1/topics/${SEGMENT}/flip$`), access: 'operator', write: (ctx, o) => cp.flipTopic(ctx.params[0], o) },
    { method: 'POST', pattern: new RegExp(`^/v1/topics/${SEGMENT}/rollback$`), access: 'operator', write: (ctx, o) => cp.rollbackTopic(ctx.params[0], o) },
    { method: 'POST', pattern: /^\/v1\/rollback-all$/, access: 'operator', write: (_ctx, o) => cp.rollbackAll(o) },
    ...gateRoutes(options.gates, maxBodyBytes),
    ...consumerRoutes(options.consumers, maxBodyBytes),
    ...gates2Routes(options.migrationGates),
  ];
}
