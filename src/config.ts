// The kmp config file (DESIGN §7): YAML or JSON, validated with zod, overridable key by key from the environment.
//
// Every problem is reported at once, each line naming the path of the bad key the way the file spells it
// (`clusters.target.bootstrap.0: expected host:port`), and unknown keys are errors, so a typo never silently
// falls back to a default. The `routes` section is the routing layer's own schema (routing/rules.ts), embedded
// as-is so the rules are validated in exactly one place.
//
// Environment overrides: `KMP_` + the key path, segments separated by a double underscore. Segments match keys
// case-insensitively and ignore single underscores, so `KMP_PROXY__LISTEN`, `KMP_PROXY__NODE_ID` and
// `KMP_FLIP__TIMEOUT_MS` address `proxy.listen`, `proxy.nodeId` and `flip.timeoutMs`. Values are converted to
// the key's type: numbers and booleans are parsed, a list of strings is comma-separated (`a:1,b:2`), and a value
// starting with `[` or `{` is parsed as YAML/JSON (e.g. a whole `admin.tokens` list). Variables without a `__`
// (KMP_ADMIN_URL, KMP_ADMIN_TOKEN of the CLI) are not config overrides and are ignored here.
//
// Relative paths (state.file, tokenFile, passwordFile) are relative to the config file's directory, so the
// file means the same thing whatever directory the service is started from; `state.file` comes out absolute.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { routesConfigSchema } from '../routing/rules.ts';
import { CLIENT_AUTH_MODES, type ServerTlsConfig } from './security/tls.ts';
import { CredentialStore, CredentialsFileError } from './security/credentials.ts';

export class ConfigError extends Error {
  /** One `path: message` entry per problem. */
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// host:port

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port`, `[v6]:port`. Returns undefined when malformed or the port is outside 0..65535. */
export function parseHostPort(value: string): HostPort | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(value);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2], port };
}

/** A `host:port` string; `listen` addresses may use port 0 (any free port), peers may not. */
function hostPortSchema(options: { allowPortZero: boolean }) {
  return z.string().refine(
    (value) => {
      const parsed = parseHostPort(value);
      return parsed !== undefined && (options.allowPortZero || parsed.port > 0);
    },
    { message: options.allowPortZero ? 'expected host:port' : 'expected host:port with a port in 1..65535' },
  );
}

const listenAddress = hostPortSchema({ allowPortZero: true });
const peerAddress = hostPortSchema({ allowPortZero: false });

// ---------------------------------------------------------------------------------------------------------------
// Secrets: a value inline, from an environment variable, or from a file. Resolved while parsing so that a
// missing variable or unreadable file is reported like any other config error, with its path.

export interface SecretSources {
  readonly env: NodeJS.ProcessEnv;
  /** Directory that relative file paths are resolved against: the config file's directory. */
  readonly baseDir: string;
}

type SecretFields<K extends string> = { [P in K | `${K}Env` | `${K}File`]?: string | undefined };

function resolveSecret<K extends string>(
  field: K,
  value: SecretFields<K>,
  sources: SecretSources,
  ctx: z.RefinementCtx,
  required: boolean,
): string | undefined {
  const envKey = `${field}Env` as const;
  const fileKey = `${field}File` as const;
  const given = [field, envKey, fileKey].filter((k) => value[k as keyof SecretFields<K>] !== undefined);
  if (given.length > 1) {
    ctx.addIssue({ code: 'custom', path: [given[1]], message: `set only one of ${field}, ${envKey}, ${fileKey}` });
    return undefined;
  }
  if (given.length === 0) {
    if (required) ctx.addIssue({ code: 'custom', path: [field], message: `required: set one of ${field}, ${envKey}, ${fileKey}` });
    return undefined;
  }
  const inline = value[field as keyof SecretFields<K>];
  if (inline !== undefined) return inline;
  const envName = value[envKey as keyof SecretFields<K>];
  if (envName !== undefined) {
    const fromEnv = sources.env[envName];
    if (fromEnv === undefined || fromEnv === '') {
      ctx.addIssue({ code: 'custom', path: [envKey], message: `environment variable ${envName} is not set` });
      return undefined;
    }
    return fromEnv;
  }
  const fileName = value[fileKey as keyof SecretFields<K>] as string;
  try {
    // Trailing newlines come from editors and `echo`; they are never part of a secret.
    const fromFile = readFileSync(path.resolve(sources.baseDir, fileName), 'utf8').replace(/[\r\n]+$/, '');
    if (fromFile === '') {
      ctx.addIssue({ code: 'custom', path: [fileKey], message: `file ${fileName} is empty` });
      return undefined;
    }
    return fromFile;
  } catch (error) {
    ctx.addIssue({ code: 'custom', path: [fileKey], message: `cannot read ${fileName}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The schema

export const ADMIN_ROLES = ['viewer', 'operator'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** An admin API token after loading: the secret itself, whatever its source was. */
export interface AdminToken {
  readonly name: string;
  readonly role: AdminRole;
  readonly token: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MIB = 1024 * 1024;
const positiveInt = () => z.number().int('expected an integer').positive('must be > 0');

/** Builds the schema; `sources` is where `tokenEnv`/`tokenFile`-style secrets and relative paths are looked up. */
export function createConfigSchema(sources: SecretSources) {
  const tokenSchema = z
    .strictObject({
      name: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1-64 characters of letters, digits, ".", "_", "@" and "-"'),
      token: z.string().min(16, 'must be at least 16 characters').optional(),
      tokenEnv: z.string().min(1).optional(),
      tokenFile: z.string().min(1).optional(),
      role: z.enum(ADMIN_ROLES),
    })
    .transform((value, ctx): AdminToken => {
      const token = resolveSecret('token', value, sources, ctx, true) ?? '';
      return { name: value.name, role: value.role, token };
    });

  // Upstream TLS (clusters.*.tls). Strict objects, so a misspelt key is an error rather than a silently
  // unencrypted or unverified connection. Relative file paths resolve against the config file's directory.
  const tlsSchema = z
    .strictObject({
      enabled: z.boolean().default(true),
      ca: z.string().optional(),
      caFile: z.string().optional(),
      cert: z.string().optional(),
      certFile: z.string().optional(),
      key: z.string().optional(),
      keyFile: z.string().optional(),
      passphrase: z.string().optional(),
      passphraseEnv: z.string().optional(),
      passphraseFile: z.string().optional(),
      servername: z.string().optional(),
      rejectUnauthorized: z.boolean().default(true),
      /** Compare the certificate's names with the broker's host (or `servername`). */
      verifyHostname: z.boolean().default(true),
    })
    .transform((value, ctx) => {
      for (const [inline, file] of [['ca', 'caFile'], ['cert', 'certFile'], ['key', 'keyFile']] as const) {
        if (value[inline] !== undefined && value[file] !== undefined) ctx.addIssue({ code: 'custom', path: [file], message: `set only one of ${inline}, ${file}` });
      }
      if ((value.cert ?? value.certFile) !== undefined && (value.key ?? value.keyFile) === undefined) {
        ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'a client certificate needs its key (key or keyFile)' });
      }
      const resolve = (f: string | undefined) => (f === undefined ? undefined : path.resolve(sources.baseDir, f));
      return {
        enabled: value.enabled,
        ca: value.ca, caFile: resolve(value.caFile),
        cert: value.cert, certFile: resolve(value.certFile),
        key: value.key, keyFile: resolve(value.keyFile),
        passphrase: resolveSecret('passphrase', value, sources, ctx, false),
        servername: value.servername,
        rejectUnauthorized: value.rejectUnauthorized,
        verifyHostname: value.verifyHostname,
      };
    });

  // Mechanism names as Kafka spells them; accepted in any case (`scram-sha-512` too).
  const upperCased = (v: unknown) => (typeof v === 'string' ? v.toUpperCase() : v);
  const saslMechanism = z.preprocess(upperCased, z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']));

  const saslSchema = z
    .strictObject({
      mechanism: saslMechanism,
      username: z.string().min(1).optional(),
      password: z.string().optional(),
      passwordEnv: z.string().optional(),
      passwordFile: z.string().optional(),
    })
    .transform((value, ctx) => {
      if (value.username === undefined) {
        ctx.addIssue({ code: 'custom', path: ['username'], message: `required for mechanism ${value.mechanism}` });
      }
      const password = resolveSecret('password', value, sources, ctx, true) ?? '';
      return { mechanism: value.mechanism, username: value.username ?? '', password };
    });

  // Client-facing TLS (proxy.tls, proxy.listeners[].tls, admin.tls): files re-read on SIGHUP.
  const listenerTlsSchema = z
    .strictObject({
      certFile: z.string().min(1),
      keyFile: z.string().min(1),
      keyPassphrase: z.string().optional(),
      keyPassphraseEnv: z.string().optional(),
      keyPassphraseFile: z.string().optional(),
      /** CA bundle that client certificates must chain to (mTLS). */
      clientCaFile: z.string().min(1).optional(),
      /** none: no client certificate; requested: optional, but verified when given; required: mTLS. */
      clientAuth: z.enum(CLIENT_AUTH_MODES).default('none'),
      minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
      ciphers: z.string().min(1).optional(),
    })
    .transform((value, ctx): ServerTlsConfig => {
      if (value.clientAuth !== 'none' && value.clientCaFile === undefined) {
        ctx.addIssue({ code: 'custom', path: ['clientCaFile'], message: `required when clientAuth is ${value.clientAuth}` });
      }
      const resolved = (f: string) => path.resolve(sources.baseDir, f);
      const files: [string, string][] = [['certFile', resolved(value.certFile)], ['keyFile', resolved(value.keyFile)]];
      if (value.clientCaFile !== undefined) files.push(['clientCaFile', resolved(value.clientCaFile)]);
      for (const [key, file] of files) {
        try {
          readFileSync(file);
        } catch (error) {
          ctx.addIssue({ code: 'custom', path: [key], message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
        }
      }
      return {
        certFile: resolved(value.certFile),
        keyFile: resolved(value.keyFile),
        keyPassphrase: resolveSecret('keyPassphrase', value, sources, ctx, false),
        clientCaFile: value.clientCaFile === undefined ? undefined : resolved(value.clientCaFile),
        clientAuth: value.clientAuth,
        minVersion: value.minVersion,
        ciphers: value.ciphers,
      };
    });

  // Client-facing SASL (proxy.sasl, proxy.listeners[].sasl).
  const listenerSaslSchema = z
    .strictObject({
      mechanisms: z.array(saslMechanism).min(1, 'at least one mechanism').default(['SCRAM-SHA-512', 'SCRAM-SHA-256']),
      /** Salted SCRAM credentials per user (src/security/credentials.ts; `kmp sasl-credential` writes entries). */
      credentialsFile: z.string().min(1),
      /** KIP-368: clients re-authenticate before this; 0 = sessions never expire. */
      sessionLifetimeMs: z.number().int('expected an integer').nonnegative('must be >= 0').default(0),
    })
    .transform((value, ctx) => {
      const file = path.resolve(sources.baseDir, value.credentialsFile);
      try {
        CredentialStore.load(file);
      } catch (error) {
        const problems = error instanceof CredentialsFileError ? error.problems : [String(error)];
        for (const p of problems) ctx.addIssue({ code: 'custom', path: ['credentialsFile'], message: `${file}: ${p}` });
      }
      return { mechanisms: [...new Set(value.mechanisms)], credentialsFile: file, sessionLifetimeMs: value.sessionLifetimeMs };
    });

  const extraListenerSchema = z.strictObject({
    /** Names the listener in logs and metrics, and in `proxy.nodes[].listeners`. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, "_" and "-" (at most 32)'),
    listen: listenAddress,
    advertised: peerAddress,
    tls: listenerTlsSchema.optional(),
    sasl: listenerSaslSchema.optional(),
  });

  const limitsSchema = z.strictObject({
    /** Client connections across every listener. */
    maxConnections: positiveInt().default(10_000),
    /** Client connections from one remote address. */
    maxConnectionsPerAddress: positiveInt().default(1_000),
    /** Close a connection after this long without traffic and with nothing in flight; 0 = never (Kafka: 10 min). */
    idleTimeoutMs: z.number().int('expected an integer').nonnegative('must be >= 0').default(600_000),
    /** TLS handshake, and on SASL listeners the login, must complete within this. */
    saslHandshakeTimeoutMs: positiveInt().default(10_000),
    /** Unanswered requests per connection before the proxy stops reading from it (backpressure). */
    maxInflightRequestsPerConnection: positiveInt().default(64),
    /** Request bytes held across all connections before reading pauses (Kafka: queued.max.request.bytes); 0 = no limit. */
    maxBufferedRequestBytes: z.number().int('expected an integer').nonnegative('must be >= 0').default(128 * MIB),
    /** A request frame whose first bytes arrived must be complete within this; 0 = no limit. */
    frameReadTimeoutMs: z.number().int('expected an integer').nonnegative('must be >= 0').default(60_000),
  });
  const LIMIT_DEFAULTS = { maxConnections: 10_000, maxConnectionsPerAddress: 1_000, idleTimeoutMs: 600_000, saslHandshakeTimeoutMs: 10_000, maxInflightRequestsPerConnection: 64, maxBufferedRequestBytes: 128 * MIB, frameReadTimeoutMs: 60_000 };

  const clusterSchema = z.strictObject({
    bootstrap: z.array(peerAddress).min(1, 'at least one host:port'),
    requestTimeoutMs: positiveInt().default(30_000),
    metadataTtlMs: positiveInt().default(30_000),
    /** Connections per upstream broker; each client connection sticks to one (its requests stay in order). */
    connectionsPerBroker: positiveInt().max(64).default(4),
    tls: tlsSchema.optional(),
    sasl: saslSchema.optional(),
  });

  const nodeSchema = z.strictObject({
    nodeId: z.number().int('expected an integer').nonnegative('must be >= 0'),
    host: z.string().min(1, 'must not be empty'),
    port: z.number().int('expected an integer').min(1).max(65535),
    /** This node's advertised address on each of `proxy.listeners`, by listener name. */
    listeners: z.record(z.string(), peerAddress).optional(),
  });

  const proxySchema = z
    .strictObject({
      /** The main listener: plaintext unless `tls` and/or `sasl` are set. */
      listen: listenAddress,
      advertised: peerAddress,
      nodeId: z.number().int('expected an integer').nonnegative('must be >= 0'),
      /** Every proxy instance, this one included, when several share the load (DESIGN §2). */
      nodes: z.array(nodeSchema).min(1).optional(),
      maxFrameBytes: positiveInt().max(2 ** 31 - 1).default(100 * MIB),
      /** TLS on the main listener. */
      tls: listenerTlsSchema.optional(),
      /** SASL on the main listener. */
      sasl: listenerSaslSchema.optional(),
      /** More listeners (e.g. a SASL_SSL one next to a plaintext one), each with its own address and security. */
      listeners: z.array(extraListenerSchema).default([]),
      limits: limitsSchema.default(LIMIT_DEFAULTS),
    })
    .superRefine((proxy, ctx) => {
      const names = new Set<string>(['default']);
      const addresses = new Set<string>([proxy.listen]);
      proxy.listeners.forEach((l, i) => {
        if (names.has(l.name)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'name'], message: `listener name "${l.name}" is ${l.name === 'default' ? 'reserved for the main listener' : 'used twice'}` });
        const port = parseHostPort(l.listen)?.port;
        if (addresses.has(l.listen) && port !== 0) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'listen'], message: `${l.listen} is already used by another listener` });
        names.add(l.name);
        addresses.add(l.listen);
        proxy.nodes?.forEach((node, n) => {
          if (node.listeners?.[l.name] === undefined) {
            ctx.addIssue({ code: 'custom', path: ['nodes', n, 'listeners', l.name], message: `required: node ${node.nodeId}'s advertised host:port on listener "${l.name}"` });
          }
        });
      });
      if (proxy.nodes === undefined) return;
      const seen = new Set<number>();
      proxy.nodes.forEach((node, i) => {
        if (seen.has(node.nodeId)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'nodeId'], message: `node id ${node.nodeId} is listed twice` });
        seen.add(node.nodeId);
      });
      if (!seen.has(proxy.nodeId)) {
        ctx.addIssue({ code: 'custom', path: ['nodeId'], message: `node id ${proxy.nodeId} is not in proxy.nodes (list every instance, this one included)` });
      }
    });

  const adminSchema = z
    .strictObject({
      listen: listenAddress.default('127.0.0.1:9644'),
      tokens: z.array(tokenSchema).default([]),
      /** HTTPS for the admin API (certificate reloaded on SIGHUP; clientAuth for mTLS). */
      tls: listenerTlsSchema.optional(),
    })
    .superRefine((admin, ctx) => {
      const names = new Set<string>();
      const secrets = new Set<string>();
      admin.tokens.forEach((token, i) => {
        if (names.has(token.name)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: `token name "${token.name}" is used twice` });
        // Two names for one secret would make the audit's `who` ambiguous.
        if (token.token !== '' && secrets.has(token.token)) ctx.addIssue({ code: 'custom', path: ['tokens', i], message: 'the same token value is configured twice' });
        names.add(token.name);
        secrets.add(token.token);
      });
    });

  return z.strictObject({
    proxy: proxySchema,
    admin: adminSchema.default({ listen: '127.0.0.1:9644', tokens: [] }),
    clusters: z.strictObject({ source: clusterSchema, target: clusterSchema }),
    routes: routesConfigSchema.default({ default: 'source', batches: {} }),
    state: z.strictObject({
      file: z
        .string()
        .min(1, 'must not be empty')
        .transform((file) => path.resolve(sources.baseDir, file)),
    }),
    flip: z
      .strictObject({
        timeoutMs: positiveInt().default(10_000),
        maxHeldRequests: positiveInt().default(10_000),
      })
      .default({ timeoutMs: 10_000, maxHeldRequests: 10_000 }),
    log: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).default({ level: 'info' }),
  });
}

export type KmpConfigSchema = ReturnType<typeof createConfigSchema>;
/** The validated config: defaults applied, secrets resolved, `state.file` absolute. */
export type KmpConfig = z.output<KmpConfigSchema>;
/** What a config file may contain. */
export type KmpConfigInput = z.input<KmpConfigSchema>;

/** The proxy instances presented to clients as brokers: `proxy.nodes`, or just this one at its advertised address. */
export function proxyNodesOf(config: KmpConfig): { nodeId: number; host: string; port: number }[] {
  if (config.proxy.nodes !== undefined) return config.proxy.nodes.map((n) => ({ ...n }));
  const advertised = parseHostPort(config.proxy.advertised) as HostPort;
  return [{ nodeId: config.proxy.nodeId, host: advertised.host, port: advertised.port }];
}

/** The proxy nodes as clients of one of `proxy.listeners` must see them: the same ids, that listener's addresses. */
export function listenerNodesOf(config: KmpConfig, listener: string): { nodeId: number; host: string; port: number }[] {
  const own = config.proxy.listeners.find((l) => l.name === listener);
  if (own === undefined) return proxyNodesOf(config);
  if (config.proxy.nodes === undefined) {
    const a = parseHostPort(own.advertised) as HostPort;
    return [{ nodeId: config.proxy.nodeId, host: a.host, port: a.port }];
  }
  return config.proxy.nodes.map((n) => {
    const a = parseHostPort(n.listeners?.[listener] ?? '') as HostPort;
    return { nodeId: n.nodeId, host: a.host, port: a.port };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

export interface LoadConfigOptions {
  /** Environment for overrides and `*Env` secrets. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Reads, overrides from the environment, validates. Throws ConfigError listing every problem. */
export function loadConfig(file: string, options: LoadConfigOptions = {}): KmpConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`(file): cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  const raw = parseConfigText(text, file);
  return parseConfig(raw, { env: options.env ?? process.env, baseDir: path.dirname(path.resolve(file)), source: file });
}

export interface ParseConfigOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Relative paths (state.file, tokenFile) resolve against this. Default: the working directory. */
  readonly baseDir?: string;
  /** Named in error messages. */
  readonly source?: string;
}

/** Validates an already-parsed document (environment overrides applied first). */
export function parseConfig(raw: unknown, options: ParseConfigOptions = {}): KmpConfig {
  const env = options.env ?? process.env;
  const source = options.source ?? '(inline)';
  const schema = createConfigSchema({ env, baseDir: options.baseDir ?? process.cwd() });
  if (raw === null || raw === undefined) throw new ConfigError(source, ['(root): the config is empty']);
  const overridden = applyEnvOverrides(raw, schema, env);
  const parsed = schema.safeParse(overridden.document);
  const problems = [...overridden.problems, ...(parsed.success ? [] : formatIssues(parsed.error.issues, schema, overridden.origins))];
  if (problems.length > 0 || !parsed.success) throw new ConfigError(source, problems);
  return parsed.data;
}

/** YAML or JSON, by extension, else by content (JSON starts with `{`). */
export function parseConfigText(text: string, file: string): unknown {
  const ext = path.extname(file).toLowerCase();
  const isJson = ext === '.json' || (ext !== '.yaml' && ext !== '.yml' && text.trimStart().startsWith('{'));
  try {
    if (isJson) return JSON.parse(text);
    // uniqueKeys (the default) makes a key given twice an error instead of last-one-wins.
    return YAML.parse(text, { prettyErrors: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(file, [`(file): not valid ${isJson ? 'JSON' : 'YAML'}: ${message.split('\n')[0]}`]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Error formatting

type Issue = z.core.$ZodIssue;

function formatIssues(issues: readonly Issue[], schema: SchemaNode, origins: ReadonlyMap<string, string>): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const at = issue.path.map((p) => String(p));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const hint = suggest(key, Object.keys(objectShape(schemaAt(schema, at) ?? schema) ?? {}));
        lines.push(withOrigin(`${joinPath([...at, key])}: unknown key${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`, [...at, key], origins));
      }
      continue;
    }
    const message = issue.code === 'invalid_type' && /received undefined$/.test(issue.message) ? 'required' : simplify(issue.message);
    lines.push(withOrigin(`${joinPath(at)}: ${message}`, at, origins));
  }
  return lines;
}

function joinPath(at: readonly string[]): string {
  return at.length === 0 ? '(root)' : at.join('.');
}

/** zod's messages start with "Invalid input: " for type errors; the path already says where, so drop it. */
function simplify(message: string): string {
  return message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '');
}

function withOrigin(line: string, at: readonly string[], origins: ReadonlyMap<string, string>): string {
  for (let n = at.length; n > 0; n--) {
    const origin = origins.get(at.slice(0, n).join('.'));
    if (origin !== undefined) return `${line} (from environment variable ${origin})`;
  }
  return line;
}

function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

// ---------------------------------------------------------------------------------------------------------------
// Schema introspection: the environment overrides and the "did you mean" hints both need to know, for a key
// path, what the schema expects there. Wrappers (optional, default, pipe/transform) are looked through.

type SchemaNode = z.core.$ZodType;

function unwrap(node: SchemaNode): SchemaNode {
  let current = node;
  for (;;) {
    const def = current._zod.def;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') {
      current = (def as z.core.$ZodOptionalDef).innerType;
    } else if (def.type === 'pipe') {
      current = (def as z.core.$ZodPipeDef).in;
    } else {
      return current;
    }
  }
}

function objectShape(node: SchemaNode): Record<string, SchemaNode> | undefined {
  const def = unwrap(node)._zod.def;
  return def.type === 'object' ? (def as z.core.$ZodObjectDef).shape : undefined;
}

/** The schema found at a key path of the document (record keys and list indexes step into the values). */
function schemaAt(schema: SchemaNode, at: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode = schema;
  for (const segment of at) {
    const def = unwrap(node)._zod.def;
    if (def.type === 'object') {
      const child: SchemaNode | undefined = (def as z.core.$ZodObjectDef).shape[segment];
      if (child === undefined) return undefined;
      node = child;
    } else if (def.type === 'record') {
      node = (def as z.core.$ZodRecordDef).valueType;
    } else if (def.type === 'array') {
      node = (def as z.core.$ZodArrayDef).element;
    } else {
      return undefined;
    }
  }
  return node;
}

interface OverrideResult {
  readonly document: unknown;
  /** key path (dot-joined) → the variable that set it, for error messages. */
  readonly origins: ReadonlyMap<string, string>;
  readonly problems: readonly string[];
}

const ENV_PREFIX = 'KMP_';
const normalize = (segment: string) => segment.toLowerCase().replace(/[_-]/g, '');

/** Applies `KMP_A__B__C=value` overrides to a copy of the document. */
export function applyEnvOverrides(raw: unknown, schema: SchemaNode, env: NodeJS.ProcessEnv): OverrideResult {
  const document: unknown = structuredClone(raw);
  const origins = new Map<string, string>();
  const problems: string[] = [];
  const names = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && name.includes('__'))
    .sort();
  for (const name of names) {
    const value = env[name] as string;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    if (segments.some((s) => s === '')) {
      problems.push(`${name}: empty key segment`);
      continue;
    }
    const located = locate(document, schema, segments, name);
    if (typeof located === 'string') {
      problems.push(located);
      continue;
    }
    const converted = convert(value, located.leaf);
    if (typeof converted === 'object' && converted !== null && 'error' in converted) {
      problems.push(`${located.path.join('.')}: ${converted.error} (from environment variable ${name})`);
      continue;
    }
    located.parent[located.key] = converted.value;
    origins.set(located.path.join('.'), name);
  }
  return { document, origins, problems };
}

interface Located {
  readonly parent: Record<string | number, unknown>;
  readonly key: string | number;
  readonly leaf: SchemaNode;
  readonly path: readonly (string | number)[];
}

/** Walks the schema and the document together, creating intermediate objects the file did not have. */
function locate(document: unknown, schema: SchemaNode, segments: readonly string[], varName: string): Located | string {
  let node: SchemaNode = schema;
  let container = document as Record<string | number, unknown>;
  const at: (string | number)[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const def = unwrap(node)._zod.def;
    let key: string | number;
    let child: SchemaNode;
    if (def.type === 'object') {
      const shape = (def as z.core.$ZodObjectDef).shape;
      const found = Object.keys(shape).find((k) => normalize(k) === normalize(segment));
      if (found === undefined) {
        const hint = suggest(segment.toLowerCase(), Object.keys(shape));
        return `${varName}: no key "${segment.toLowerCase()}" under ${at.length === 0 ? 'the root' : at.join('.')}${hint === undefined ? '' : ` (did you mean ${hint}?)`}`;
      }
      key = found;
      child = shape[found];
    } else if (def.type === 'record') {
      // Record keys (batch names) are the user's: match an existing one loosely, else use the segment as written.
      key = Object.keys(container).find((k) => normalize(k) === normalize(segment)) ?? segment.toLowerCase();
      child = (def as z.core.$ZodRecordDef).valueType;
    } else if (def.type === 'array') {
      if (!/^\d+$/.test(segment)) return `${varName}: ${at.join('.')} is a list; expected an index, got "${segment}"`;
      key = Number(segment);
      child = (def as z.core.$ZodArrayDef).element;
    } else {
      return `${varName}: ${at.join('.')} is not an object, so it has no key "${segment}"`;
    }
    at.push(key);
    if (i === segments.length - 1) return { parent: container, key, leaf: child, path: at };
    const next = container[key];
    if (next === undefined || next === null) {
      const childType = unwrap(child)._zod.def.type;
      container[key] = childType === 'array' ? [] : {};
    } else if (typeof next !== 'object') {
      return `${varName}: ${at.join('.')} is not an object in the config file`;
    }
    container = container[key] as Record<string | number, unknown>;
    node = child;
  }
  return `${varName}: no key path`;
}

/** Converts an environment string to the type the schema expects at that key. */
function convert(value: string, leaf: SchemaNode): { value: unknown } | { error: string } {
  const def = unwrap(leaf)._zod.def;
  const trimmed = value.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      return { value: YAML.parse(trimmed) as unknown };
    } catch (error) {
      return { error: `not valid YAML/JSON: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` };
    }
  }
  switch (def.type) {
    case 'number':
      // Not a number: pass the string through so zod reports "expected number" with the path.
      return { value: trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : value };
    case 'boolean':
      if (/^(true|1|yes)$/i.test(trimmed)) return { value: true };
      if (/^(false|0|no)$/i.test(trimmed)) return { value: false };
      return { value };
    case 'array':
      return { value: trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim()) };
    case 'object':
    case 'record':
      return { error: 'this key holds an object; give it as JSON/YAML flow, e.g. {"key": "value"}' };
    default:
      return { value };
  }
}
