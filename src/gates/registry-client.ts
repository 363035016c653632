// A small client for the Confluent Schema Registry REST API (also served by Apicurio under /apis/ccompat/v7,
// Redpanda, Karapace, …). Only the reads the schema gate needs. Implementations differ in extra response fields,
// so only the fields below are read, and "missing" is told apart from "broken" by status and `error_code`.
export interface RegistryConfig {
  /** Base URL of the Confluent API, e.g. http://host:8080/apis/ccompat/v7 (no trailing slash). */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly bearerToken?: string;
  readonly timeoutMs?: number;
}

export interface RegistrySchema {
  readonly schema: string;
  /** AVRO when the registry leaves it out (the Confluent default). */
  readonly schemaType: string;
  readonly references: readonly { readonly name: string; readonly subject: string; readonly version: number }[];
}

export class RegistryError extends Error {
  readonly status: number | null;
  readonly errorCode: number | null;
  constructor(message: string, status: number | null = null, errorCode: number | null = null) {
    super(message);
    this.name = 'RegistryError';
    this.status = status;
    this.errorCode = errorCode;
  }
}

export class RegistryClient {
  readonly url: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;

  constructor(config: RegistryConfig) {
    this.url = config.url.replace(/\/+$/, '');
    this.#timeoutMs = config.timeoutMs ?? 10_000;
    this.#headers = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
    if (config.bearerToken !== undefined) this.#headers.authorization = `Bearer ${config.bearerToken}`;
    else if (config.username !== undefined) {
      this.#headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;
    }
  }

  /** `GET /schemas/ids/{id}`; null when the registry does not know the id (404). */
  async schemaById(id: number): Promise<RegistrySchema | null> {
    const body = await this.#get(`/schemas/ids/${id}`, true);
    if (body === null) return null;
    const b = body as { schema?: unknown; schemaType?: unknown; references?: unknown };
    if (typeof b.schema !== 'string') throw new RegistryError(`${this.url}/schemas/ids/${id}: the answer has no schema`);
    const refs = Array.isArray(b.references) ? (b.references as { name: string; subject: string; version: number }[]) : [];
    return {
      schema: b.schema,
      schemaType: typeof b.schemaType === 'string' ? b.schemaType : 'AVRO',
      references: refs.map((r) => ({ name: String(r.name), subject: String(r.subject), version: Number(r.version) })),
    };
  }

  /** `GET /schemas/ids/{id}/versions`: the subjects (and versions) that use the id; empty when unknown. */
  async subjectVersionsOf(id: number): Promise<{ subject: string; version: number }[]> {
    const body = await this.#get(`/schemas/ids/${id}/versions`, true);
    if (!Array.isArray(body)) return [];
    return (body as { subject: unknown; version: unknown }[]).map((v) => ({ subject: String(v.subject), version: Number(v.version) }));
  }

  /** The compatibility level in force for a subject: its own, else the global one. */
  async compatibility(subject: string): Promise<string | null> {
    const own = (await this.#get(`/config/${encodeURIComponent(subject)}?defaultToGlobal=true`, true)) as { compatibilityLevel?: unknown; compatibility?: unknown } | null;
    const level = own?.compatibilityLevel ?? own?.compatibility;
    if (typeof level === 'string') return level;
    const global = (await this.#get('/config', true)) as { compatibilityLevel?: unknown; compatibility?: unknown } | null;
    const g = global?.compatibilityLevel ?? global?.compatibility;
    return typeof g === 'string' ? g : null;
  }

  async #get(path: string, nullOn404: boolean): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, { headers: this.#headers, signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      throw new RegistryError(`${this.url}${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      body = null;
    }
    if (res.status === 404 && nullOn404) return null;
    if (!res.ok) {
      const b = body as { message?: unknown; error_code?: unknown } | null;
      const code = typeof b?.error_code === 'number' ? b.error_code : null;
      throw new RegistryError(`${this.url}${path}: HTTP ${res.status}${typeof b?.message === 'string' ? `: ${b.message}` : ''}`, res.status, code);
    }
    return body;
  }
}
