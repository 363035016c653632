// The admin API (docs/design.md §6): HTTP + JSON under /v1, node:http only. See docs/admin-api.md for the reference.
//
// Order of checks for a request: authentication (401, everything but /healthz and /readyz), the route (404),
// the method (405), the role (403), then for writes the media type (415), the body (413/400), and finally the
// control plane, whose errors carry their own status (routing/errors.ts). The endpoints themselves are listed in
// route-table.ts.
//
// Closed by default: no CORS headers, so browsers never let another origin read an answer. Writes require
// `Content-Type: application/json` (even with an empty body), which a cross-site form or a "simple" fetch cannot
// send without a CORS preflight (that this server never approves). Without tokens the server binds loopback only and also checks
// the Host header, so a DNS-rebinding page cannot drive a local, open admin API.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { loadServerSecureContextOptions, type ServerTlsConfig } from '../security/tls.ts';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AdminToken } from '../config/index.ts';
import { parseHostPort } from '../config/index.ts';
import { ANONYMOUS_LOOPBACK, TokenAuthenticator, roleAllows, type Principal } from './auth.ts';
import type { AdminControlPlane, OperationResult, WriteOptions } from './control-plane-port.ts';
import type { InventoryTopicView } from '../inventory.ts';
import type { Readiness } from '../cluster-health.ts';
import { HttpError, readJsonBody, sendError, sendJson, toHttpError } from './http.ts';
import { writeBodySchema } from './write-body.ts';
import type { AdminGates } from '../gates/setup.ts';
import type { AdminConsumers } from '../consumers/setup.ts';
import { adminRoutes, type RequestContext, type Route } from './route-table.ts';
import type { BoundMigrationGates } from '../gates/migration-gates.ts';

/** The part of a prom-client Registry that /metrics needs. */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface AdminServerOptions {
  /** `host:port` (port 0: any free port), normally `config.admin.listen`. */
  readonly listen: string;
  /** `config.admin.tokens`. Empty: open API, allowed on a loopback address only. */
  readonly tokens: readonly AdminToken[];
  readonly controlPlane: AdminControlPlane;
  /** `GET /v1/status`: connections, in-flight and held requests, upstream health — whatever the program reports. */
  readonly status: () => unknown;
  /**
   * `GET /readyz` (`?require=all`: every cluster must be up): a bare boolean, or the readiness with per-cluster
   * health and reasons (cluster-health.ts readinessOf), which is then the body.
   */
  readonly ready: (query: { requireAll: boolean }) => boolean | Readiness | Promise<boolean | Readiness>;
  readonly registry: MetricsRegistry;
  /** `GET /v1/inventory`: the producer inventory, per topic (ProducerInventory.topics()). Absent: 404. */
  readonly inventory?: () => readonly InventoryTopicView[];
  /** `GET /v1/fleet`: members, leases, applied versions (src/fleet/fleet.ts). Absent (no `fleet:`): 404. */
  readonly fleet?: () => unknown;
  /** `/v1/waves/{wave}/prepare` and `/schemas` (src/gates/admin-routes.ts). Absent: 404. */
  readonly gates?: AdminGates;
  /** `/v1/consumers` and `/v1/consumers/{group}/move` (src/consumers/admin-routes.ts). Absent: 404. */
  readonly consumers?: AdminConsumers;
  /** `/v1/bypass`, `/v1/operations/{id}`, topic evidence, and canary batch flips (src/gates/gates2-routes.ts). */
  readonly migrationGates?: BoundMigrationGates;
  /** `GET /v1/transactions`: transactional ids (home, state, coupling) and recent flip waits. Absent: 404. */
  readonly transactions?: () => unknown;
  readonly logger: Logger;
  /** Cap of a request body. Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** HTTPS (`config.admin.tls`): certificate and key files, optional client-certificate verification. */
  readonly tls?: ServerTlsConfig;
}

export interface AdminServer {
  /** `http(s)://host:port`, with the port actually bound. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops accepting connections and resolves when open requests are done. */
  close(): Promise<void>;
  /** HTTPS only: re-reads certificate, key and client CA for new connections (SIGHUP). */
  reloadTls(): void;
}

export class AdminServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminServerError';
  }
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const address = parseHostPort(options.listen);
  if (address === undefined) throw new AdminServerError(`admin.listen: "${options.listen}" is not host:port`);
  if (options.tokens.length === 0) {
    if (!isLoopbackHost(address.host)) {
      throw new AdminServerError(
        `admin.listen is ${options.listen}, but no admin.tokens are configured: an open admin API may only listen on a ` +
          'loopback address (127.0.0.1, ::1, localhost). Configure admin.tokens to listen on other addresses.',
      );
    }
    options.logger.warn({ listen: options.listen }, 'admin API has no tokens: anyone on this host can change routes (loopback only)');
  }
  const tlsConfig = options.tls;
  const server: Server = tlsConfig === undefined
    ? createServer(createAdminHandler(options))
    : createHttpsServer({
      ...loadServerSecureContextOptions(tlsConfig),
      requestCert: tlsConfig.clientAuth !== 'none',
      rejectUnauthorized: tlsConfig.clientAuth === 'required',
    }, createAdminHandler(options));
  if (tlsConfig?.clientAuth === 'requested') {
    // Optional client certificate, but one that is presented must be trusted.
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!socket.authorized && Object.keys(socket.getPeerCertificate() ?? {}).length > 0) socket.destroy();
    });
  }
  const scheme = tlsConfig === undefined ? 'http' : 'https';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => options.logger.error({ err }, 'admin server error'));
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  options.logger.info({ url: `${scheme}://${host}:${bound.port}`, auth: options.tokens.length > 0 ? 'tokens' : 'none', ...(tlsConfig ? { clientAuth: tlsConfig.clientAuth } : {}) }, 'admin API listening');
  return {
    url: `${scheme}://${host}:${bound.port}`,
    host: bound.address,
    port: bound.port,
    close: () => closeServer(server),
    reloadTls: () => {
      if (tlsConfig !== undefined) (server as HttpsServer).setSecureContext(loadServerSecureContextOptions(tlsConfig));
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err === undefined ? resolve() : reject(err)));
    server.closeIdleConnections();
  });
}

export function createAdminHandler(options: AdminServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const auth = new TokenAuthenticator(options.tokens);
  const log = options.logger.child({ component: 'admin' });
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const routes = adminRoutes(options, log, maxBodyBytes);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const matching = routes.map((route) => ({ route, match: route.pattern.exec(url.pathname) })).filter((m) => m.match !== null);
    const open = matching.length > 0 && matching.every((m) => m.route.access === 'open');

    let principal: Principal = ANONYMOUS_LOOPBACK;
    if (!open) {
      if (auth.enabled) {
        const found = auth.authenticate(req.headers.authorization);
        if (found === null) {
          throw new HttpError(401, 'a valid bearer token is required (Authorization: Bearer TOKEN)', {
            headers: { 'www-authenticate': 'Bearer realm="kmp"' },
          });
        }
        principal = found;
      } else if (!hostIsLoopback(req.headers.host)) {
        throw new HttpError(403, `Host "${req.headers.host ?? ''}" refused: the admin API has no tokens and answers loopback names only`);
      }
    }
    if (matching.length === 0) throw new HttpError(404, `no such endpoint: ${url.pathname}`);
    const chosen = matching.find((m) => m.route.method === req.method);
    if (chosen === undefined) {
      const allow = [...new Set(matching.map((m) => m.route.method))].join(', ');
      throw new HttpError(405, `${req.method ?? '?'} is not allowed on ${url.pathname}; use ${allow}`, { headers: { allow } });
    }
    const { route } = chosen;
    if (route.access !== 'open' && !roleAllows(principal.role, route.access)) {
      throw new HttpError(403, `token "${principal.name}" has role ${principal.role}; this needs ${route.access}`);
    }
    const params = (chosen.match as RegExpExecArray).slice(1).map(decodeSegment);
    const ctx: RequestContext = { req, res, url, params, principal };
    if (route.read !== undefined) {
      await route.read(ctx);
      return;
    }
    if (route.write !== undefined) await runWrite(ctx, route.write, route.canary === true);
  }

  async function runWrite(ctx: RequestContext, write: NonNullable<Route['write']>, canaryAllowed: boolean): Promise<void> {
    const body = await readJsonBody(ctx.req, maxBodyBytes, writeBodySchema);
    const writeOptions: WriteOptions = {
      who: ctx.principal.name,
      ...(body.reason !== undefined ? { reason: body.reason } : {}),
      dryRun: body.dryRun,
      force: body.force,
    };
    const what = { who: writeOptions.who, path: ctx.url.pathname, reason: writeOptions.reason, dryRun: writeOptions.dryRun, force: writeOptions.force };
    if (body.canary !== undefined) {
      if (!canaryAllowed) throw new HttpError(400, 'canary: only a batch flip (POST /v1/batches/{wave}/flip) takes a canary', { code: 'VALIDATION' });
      if (options.migrationGates === undefined) throw new HttpError(404, 'canary flips are not enabled in this process');
      const started = await options.migrationGates.canary.start(ctx.params[0], body.canary, writeOptions);
      log.info({ ...what, canary: body.canary }, 'admin write: canary flip');
      // 202: the operation runs on; GET /v1/operations/{id} shows its progress. A dry run is a plain answer.
      sendJson(ctx.res, writeOptions.dryRun === true ? 200 : 202, started);
      return;
    }
    let result: OperationResult;
    try {
      // The control plane validates some input synchronously (an unknown batch throws before any promise).
      result = await Promise.resolve().then(() => write(ctx, writeOptions));
    } catch (error) {
      const { error: http } = toHttpError(error);
      log.warn({ ...what, status: http.status, error: http.message }, 'admin write failed');
      throw error;
    }
    log.info({ ...what, version: result.version, outcome: result.outcome }, 'admin write');
    sendJson(ctx.res, 200, result);
  }

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      const { error: http, unexpected } = toHttpError(error);
      if (unexpected) log.error({ err: error, method: req.method, url: req.url }, 'admin request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, http);
    });
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `bad URL encoding in "${segment}"`);
  }
}

function hostIsLoopback(hostHeader: string | undefined): boolean {
  if (hostHeader === undefined) return true; // HTTP/1.0 tools; browsers always send Host
  const hostOnly = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.replace(/:\d*$/, '');
  return isLoopbackHost(hostOnly);
}

// Re-exported: the default page size has always been importable from the server module.
export { DEFAULT_PAGE_LIMIT } from './paging.ts';
