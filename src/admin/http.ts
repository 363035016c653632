// Small HTTP plumbing of the admin API: JSON replies, the error shape `{ error: { code, message } }`, the body
// reader with its size cap, and the translation of errors thrown by the control plane into statuses.
import type { ZodType } from 'zod';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const ERROR_CODES: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export function codeForStatus(status: number): string {
  return ERROR_CODES[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
}

/** An error that already knows its HTTP answer. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(status: number, message: string, options: { code?: string; headers?: Record<string, string>; extra?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = options.code ?? codeForStatus(status);
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }
}

/**
 * Maps anything thrown by a handler to an HttpError. Routing errors carry `status` (routing/errors.ts); other
 * layers may use `httpStatus`. `details` (e.g. pre-flight refusals) and `result` (an aborted move's report) are
 * passed on, because they are what the operator needs to decide the next step. Anything else is a 500.
 */
export function toHttpError(error: unknown): { error: HttpError; unexpected: boolean } {
  if (error instanceof HttpError) return { error, unexpected: false };
  if (typeof error === 'object' && error !== null) {
    const e = error as { status?: unknown; httpStatus?: unknown; code?: unknown; message?: unknown; details?: unknown; result?: unknown };
    const status = typeof e.status === 'number' ? e.status : typeof e.httpStatus === 'number' ? e.httpStatus : undefined;
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : 'internal error';
    if (status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599) {
      const extra: Record<string, unknown> = {};
      if (Array.isArray(e.details) && e.details.length > 0) extra.details = e.details;
      if (e.result !== undefined) extra.result = e.result;
      return {
        error: new HttpError(status, message, { code: typeof e.code === 'string' ? e.code : codeForStatus(status), extra }),
        unexpected: status >= 500 && status !== 503,
      };
    }
    return { error: new HttpError(500, `internal error: ${message}`), unexpected: true };
  }
  return { error: new HttpError(500, `internal error: ${String(error)}`), unexpected: true };
}

/**
 * JSON with the types the routing layer uses: bigint offsets become decimal strings (int64 does not fit a JSON
 * number; the state store writes them the same way), Maps become objects, Sets become arrays.
 */
export function toJson(value: unknown, pretty = false): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Map) return Object.fromEntries(v);
      if (v instanceof Set) return [...v];
      return v;
    },
    pretty ? 2 : undefined,
  );
}

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${toJson(body)}\n`;
  res.writeHead(status, {
    ...COMMON_HEADERS,
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { ...COMMON_HEADERS, 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message, ...error.extra } }, { ...error.headers });
}

/**
 * Reads the whole body, at most `limit` bytes. Over the limit: 413, and the rest of the upload is discarded
 * (not buffered) while the answer goes out with `connection: close`.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, `request body larger than ${limit} bytes`, { headers: { connection: 'close' } });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

/**
 * A write's body: Content-Type application/json required (always, even for an empty body: a browser sends a
 * body-less cross-site POST without any type and without a preflight, so accepting that would let any web page
 * write on an open loopback API), at most `limit` bytes, valid JSON (empty = {}), then validated by `schema`.
 * 415, 413 or 400 (code VALIDATION, every issue with its path) otherwise.
 */
export async function readJsonBody<T>(req: IncomingMessage, limit: number, schema: ZodType<T>): Promise<T> {
  const contentType = req.headers['content-type'];
  if (contentType === undefined || !/^application\/json\s*(;|$)/i.test(contentType)) {
    req.resume();
    throw new HttpError(415, 'write requests need "Content-Type: application/json" (the body may be empty or {})');
  }
  const raw = await readBody(req, limit);
  let json: unknown = {};
  if (raw.length > 0) {
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      throw new HttpError(400, `body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const body = schema.safeParse(json);
  if (!body.success) {
    const message = body.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
    throw new HttpError(400, message, { code: 'VALIDATION' });
  }
  return body.data;
}
