// The admin API as the CLI sees it: fetch, a bearer token, and errors turned into something to print.
import type { OperationResult, RoutesView, AuditEntry, LedgerEntry, Resolution } from '../admin/control-plane-port.ts';
import type { InventoryTopicView } from '../inventory.ts';

/** A value as it arrives over JSON: bigint offsets are decimal strings (see toJson in src/admin/http.ts). */
export type Wire<T> = T extends bigint
  ? string
  : T extends readonly (infer U)[]
    ? readonly Wire<U>[]
    : T extends object
      ? { readonly [K in keyof T]: Wire<T[K]> }
      : T;

export interface Page<T> {
  readonly total: number;
  readonly entries: readonly T[];
}

export type WireRoutes = Wire<RoutesView>;
export type WireResolution = Wire<Resolution>;
export type WireOperation = Wire<OperationResult>;
export type WireAuditEntry = Wire<AuditEntry>;
export type WireLedgerEntry = Wire<LedgerEntry>;
export type WireInventoryTopic = Wire<InventoryTopicView>;

/** The API answered with an error (`{ error: { code, message } }`). */
export class AdminApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: readonly string[];
  readonly body: unknown;

  constructor(status: number, code: string, message: string, details: readonly string[], body: unknown) {
    super(message);
    this.name = 'AdminApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.body = body;
  }
}

/** No answer at all: wrong URL, proxy not running, network. */
export class AdminUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminUnreachableError';
  }
}

export interface WriteRequest {
  readonly reason?: string;
  readonly dryRun?: boolean;
  readonly force?: boolean;
}

export class AdminClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token === '' ? undefined : token;
  }

  routes(): Promise<WireRoutes> {
    return this.get('/v1/routes') as Promise<WireRoutes>;
  }

  resolve(topic: string): Promise<WireResolution> {
    return this.get(`/v1/routes/resolve?topic=${encodeURIComponent(topic)}`) as Promise<WireResolution>;
  }

  status(): Promise<unknown> {
    return this.get('/v1/status');
  }

  /** GET /v1/fleet (404 on an instance without `fleet:`). */
  fleet(): Promise<unknown> {
    return this.get('/v1/fleet');
  }

  audit(limit?: number): Promise<Page<WireAuditEntry>> {
    return this.get(`/v1/audit${limit === undefined ? '' : `?limit=${limit}`}`) as Promise<Page<WireAuditEntry>>;
  }

  ledger(query: { topic?: string; limit?: number } = {}): Promise<Page<WireLedgerEntry>> {
    const params = new URLSearchParams();
    if (query.topic !== undefined) params.set('topic', query.topic);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const qs = params.toString();
    return this.get(`/v1/ledger${qs === '' ? '' : `?${qs}`}`) as Promise<Page<WireLedgerEntry>>;
  }

  inventory(topic?: string): Promise<{ readonly topics: readonly WireInventoryTopic[] }> {
    const qs = topic === undefined ? '' : `?topic=${encodeURIComponent(topic)}`;
    return this.get(`/v1/inventory${qs}`) as Promise<{ readonly topics: readonly WireInventoryTopic[] }>;
  }

  /** `path` like `/v1/batches/wave-1/flip`; names in it must already be URI-encoded. */
  write(path: string, body: WriteRequest): Promise<WireOperation> {
    return this.request('POST', path, body) as Promise<WireOperation>;
  }

  get(path: string): Promise<unknown> {
    return this.request('GET', path, undefined);
  }

  async request(method: 'GET' | 'POST', path: string, body: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (method === 'POST') headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
      const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : String(error);
      throw new AdminUnreachableError(`cannot reach the admin API at ${this.baseUrl}: ${why}`, { cause: error });
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = text;
    }
    if (!response.ok) {
      const err = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
      const message = typeof err?.message === 'string' ? err.message : `HTTP ${response.status} ${response.statusText}`;
      const code = typeof err?.code === 'string' ? err.code : `HTTP_${response.status}`;
      const details = Array.isArray(err?.details) ? err.details.map(String) : [];
      throw new AdminApiError(response.status, code, message, details, parsed);
    }
    return parsed;
  }
}
