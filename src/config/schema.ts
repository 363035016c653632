// The kmp config file's schema (docs/design.md §7): every key, its type, default and cross-field rules, in zod.
//
// Pure: no file or environment is read here. Unknown keys are errors (strict objects), so a typo never silently
// falls back to a default. Where the config names a secret or a file, the parsed value holds a reference
// (references.ts) that the load step resolves after parsing. The `routes` section is the routing layer's own
// schema (routing/rules.ts), embedded as-is so the rules are validated in exactly one place.
//
// Relative paths (state.file, tokenFile, passwordFile, certificates) are relative to the config file's directory,
// so the file means the same thing whatever directory the service is started from; they come out absolute.

import path from 'node:path';
import { z } from 'zod';
import { routesConfigSchema } from '../../routing/rules.ts';
import { gatesConfigSchema } from '../gates/gates-config.ts';
import { CLIENT_AUTH_MODES } from '../security/tls.ts';
import { parseHostPort } from './host-port.ts';
import { FileReference, withReferences, type Loaded } from './references.ts';
import { secretReference } from './secrets.ts';

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

export interface ConfigSchemaOptions {
  /** Directory that relative paths resolve against: the config file's directory. */
  readonly baseDir: string;
}

/** Builds the schema; relative paths in the document resolve against `baseDir`. */
export function createConfigSchema({ baseDir }: ConfigSchemaOptions) {
  const absolute = (file: string) => path.resolve(baseDir, file);

  const tokenSchema = withReferences(
    z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1-64 characters of letters, digits, ".", "_", "@" and "-"'),
      token: z.string().min(16, 'must be at least 16 characters').optional(),
      tokenEnv: z.string().min(1).optional(),
      tokenFile: z.string().min(1).optional(),
      role: z.enum(ADMIN_ROLES),
    }),
    (value, ctx) => {
      const token = secretReference('token', value, ctx, { required: true, baseDir });
      // secretReference has reported why; NEVER keeps the output type honest (a token is always there).
      if (token === undefined) return z.NEVER;
      return { name: value.name, role: value.role, token };
    },
  );

  // Upstream TLS (clusters.*.tls). Strict objects, so a misspelt key is an error rather than a silently
  // unencrypted or unverified connection. The upstream client reads the files when it connects.
  const tlsSchema = withReferences(
    z.strictObject({
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
    }),
    (value, ctx) => {
      for (const [inline, file] of [['ca', 'caFile'], ['cert', 'certFile'], ['key', 'keyFile']] as const) {
        if (value[inline] !== undefined && value[file] !== undefined) ctx.addIssue({ code: 'custom', path: [file], message: `set only one of ${inline}, ${file}` });
      }
      if ((value.cert ?? value.certFile) !== undefined && (value.key ?? value.keyFile) === undefined) {
        ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'a client certificate needs its key (key or keyFile)' });
      }
      const resolve = (f: string | undefined) => (f === undefined ? undefined : absolute(f));
      return {
        enabled: value.enabled,
        ca: value.ca, caFile: resolve(value.caFile),
        cert: value.cert, certFile: resolve(value.certFile),
        key: value.key, keyFile: resolve(value.keyFile),
        passphrase: secretReference('passphrase', value, ctx, { required: false, baseDir }),
        servername: value.servername,
        rejectUnauthorized: value.rejectUnauthorized,
        verifyHostname: value.verifyHostname,
      };
    },
  );

  // Mechanism names as Kafka spells them; accepted in any case (`scram-sha-512` too).
  const upperCased = (v: unknown) => (typeof v === 'string' ? v.toUpperCase() : v);
  const saslMechanism = z.preprocess(upperCased, z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']));

  const saslSchema = withReferences(
    z.strictObject({
      mechanism: saslMechanism,
      username: z.string().min(1).optional(),
      password: z.string().optional(),
      passwordEnv: z.string().optional(),
      passwordFile: z.string().optional(),
    }),
    (value, ctx) => {
      if (value.username === undefined) {
        ctx.addIssue({ code: 'custom', path: ['username'], message: `required for mechanism ${value.mechanism}` });
      }
      const password = secretReference('password', value, ctx, { required: true, baseDir });
      if (password === undefined) return z.NEVER;
      // A missing username was reported above; the password is still built, so the load step checks it too.
      return { mechanism: value.mechanism, username: value.username ?? '', password };
    },
  );

  // Client-facing TLS (proxy.tls, proxy.listeners[].tls, admin.tls): files re-read on SIGHUP, checked at load.
  const listenerTlsSchema = withReferences(
    z.strictObject({
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
    }),
    (value, ctx) => {
      if (value.clientAuth !== 'none' && value.clientCaFile === undefined) {
        ctx.addIssue({ code: 'custom', path: ['clientCaFile'], message: `required when clientAuth is ${value.clientAuth}` });
      }
      const readable = (key: string, file: string) => new FileReference(key, absolute(file), 'readable');
      return {
        certFile: readable('certFile', value.certFile),
        keyFile: readable('keyFile', value.keyFile),
        keyPassphrase: secretReference('keyPassphrase', value, ctx, { required: false, baseDir }),
        clientCaFile: value.clientCaFile === undefined ? undefined : readable('clientCaFile', value.clientCaFile),
        clientAuth: value.clientAuth,
        minVersion: value.minVersion,
        ciphers: value.ciphers,
      };
    },
  );

  // Client-facing SASL (proxy.sasl, proxy.listeners[].sasl).
  const listenerSaslSchema = withReferences(
    z.strictObject({
      mechanisms: z.array(saslMechanism).min(1, 'at least one mechanism').default(['SCRAM-SHA-512', 'SCRAM-SHA-256']),
      /** Salted SCRAM credentials per user (src/security/credentials.ts; `kmp sasl-credential` writes entries). */
      credentialsFile: z.string().min(1),
      /** KIP-368: clients re-authenticate before this; 0 = sessions never expire. */
      sessionLifetimeMs: z.number().int('expected an integer').nonnegative('must be >= 0').default(0),
    }),
    (value) => ({
      mechanisms: [...new Set(value.mechanisms)],
      credentialsFile: new FileReference('credentialsFile', absolute(value.credentialsFile), 'credentials'),
      sessionLifetimeMs: value.sessionLifetimeMs,
    }),
  );

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

  // The cluster's Schema Registry (Confluent REST API, e.g. Apicurio's /apis/ccompat/v7): the schema gate checks
  // that every schema id in use resolves the same way in the target registry (src/gates/schema-gate.ts).
  const schemaRegistrySchema = withReferences(
    z.strictObject({
      url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
      username: z.string().min(1).optional(),
      password: z.string().optional(),
      passwordEnv: z.string().optional(),
      passwordFile: z.string().optional(),
      /** Bearer token instead of basic auth. */
      token: z.string().optional(),
      tokenEnv: z.string().optional(),
      tokenFile: z.string().optional(),
      timeoutMs: positiveInt().default(10_000),
    }),
    (value, ctx) => {
      const bearerToken = secretReference('token', value, ctx, { required: false, baseDir });
      const password = value.username !== undefined ? secretReference('password', value, ctx, { required: true, baseDir }) : undefined;
      return {
        url: value.url.replace(/\/+$/, ''),
        timeoutMs: value.timeoutMs,
        ...(value.username !== undefined && password !== undefined ? { username: value.username, password } : {}),
        ...(bearerToken !== undefined ? { bearerToken } : {}),
      };
    },
  );

  const clusterSchema = z.strictObject({
    bootstrap: z.array(peerAddress).min(1, 'at least one host:port'),
    requestTimeoutMs: positiveInt().default(30_000),
    metadataTtlMs: positiveInt().default(30_000),
    /** Connections per upstream broker; each client connection sticks to one (its requests stay in order). */
    connectionsPerBroker: positiveInt().max(64).default(4),
    tls: tlsSchema.optional(),
    sasl: saslSchema.optional(),
    schemaRegistry: schemaRegistrySchema.optional(),
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
      /** Every proxy instance, this one included, when several share the load (docs/design.md §2). */
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
      // Equal token *values* can only be compared once loaded: load.ts checks those.
      const names = new Set<string>();
      admin.tokens.forEach((token, i) => {
        if (names.has(token.name)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: `token name "${token.name}" is used twice` });
        names.add(token.name);
      });
    });

  // Several kmp instances sharing one route table in Kafka topics (docs/fleet.md). Absent: one instance, local file.
  const fleetSchema = z
    .strictObject({
      /** The cluster holding the control topics: one of the configured clusters, or a third one. */
      control: z.union([z.enum(['source', 'target']), clusterSchema]).default('source'),
      /** Control topics are `<topicPrefix>.routes`, `.moves`, `.members`, `.producer-ids`. */
      topicPrefix: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'letters, digits, ".", "_" and "-"').default('_kmp'),
      /** This instance's member id; default `kmp-<proxy.nodeId>`. Unique in the fleet. */
      instanceId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1-64 letters, digits, ".", "_" and "-"').optional(),
      /** A heartbeat keeps a member live this long. */
      leaseMs: positiveInt().default(3_000),
      heartbeatMs: positiveInt().default(500),
      /** Clock-drift allowance: others count a member gone after lease + margin, it fences itself at lease - margin. */
      skewMarginMs: z.number().int('expected an integer').nonnegative('must be >= 0').default(500),
      /**
       * The new-route check (docs/fleet.md "Retries across a move"): off by default until a kafkajs producer's
       * duplicates under it in fleet-clients.test.ts (CI, 11 records, once) are understood.
       */
      newRouteCheck: z.boolean().default(false),
      /** Replication factor of the control topics when kmp creates them. */
      replicationFactor: positiveInt().max(32).default(3),
    })
    .superRefine((fleet, ctx) => {
      if (fleet.skewMarginMs * 2 >= fleet.leaseMs) ctx.addIssue({ code: 'custom', path: ['skewMarginMs'], message: `must be below leaseMs / 2 (${fleet.leaseMs / 2})` });
      if (fleet.heartbeatMs * 2 > fleet.leaseMs - fleet.skewMarginMs) {
        ctx.addIssue({ code: 'custom', path: ['heartbeatMs'], message: `at most (leaseMs - skewMarginMs) / 2 = ${(fleet.leaseMs - fleet.skewMarginMs) / 2}, so one lost heartbeat does not fence the instance` });
      }
    });

  return z.strictObject({
    proxy: proxySchema,
    fleet: fleetSchema.optional(),
    admin: adminSchema.default({ listen: '127.0.0.1:9644', tokens: [] }),
    clusters: z.strictObject({ source: clusterSchema, target: clusterSchema }),
    routes: routesConfigSchema.default({ default: 'source', batches: {} }),
    state: z.strictObject({
      file: z
        .string()
        .min(1, 'must not be empty')
        .transform(absolute),
    }),
    flip: z
      .strictObject({
        timeoutMs: positiveInt().default(10_000),
        maxHeldRequests: positiveInt().default(10_000),
        /** How long a flip waits for open transactions on its topics before it aborts (docs/transactions.md). */
        transactionDrainMs: positiveInt().default(10_000),
        /**
         * At that bound: abort the flip (default), or answer the still-open transactions' next request with an
         * abortable error and wait as long again for them to end (docs/transactions.md §flip).
         */
        openTransactionsAtBound: z.enum(['abort-flip', 'abort-transactions']).default('abort-flip'),
      })
      .default({ timeoutMs: 10_000, maxHeldRequests: 10_000, transactionDrainMs: 10_000, openTransactionsAtBound: 'abort-flip' }),
    log: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).default({ level: 'info' }),
    // Write-back (src/writeback/): per wave (a name in routes.batches), whether its target writes are copied back
    // to the source until promotion (default true) and whether a producer's answer waits for that copy (default
    // false). Waves not listed take the defaults.
    writeBack: z
      .strictObject({
        /** For waves not listed in `waves` and topics no wave claims. */
        default: z
          .strictObject({ writeBack: z.boolean().default(true), ackAfterWriteBack: z.boolean().default(false) })
          .default({ writeBack: true, ackAfterWriteBack: false }),
        waves: z
          .record(
            z.string(),
            z.strictObject({
              writeBack: z.boolean().default(true),
              ackAfterWriteBack: z.boolean().default(false),
            }),
          )
          .default({}),
      })
      .default({ default: { writeBack: true, ackAfterWriteBack: false }, waves: {} }),
    /** Bypass detection and the promotion gate (src/gates/gates-config.ts). */
    gates: gatesConfigSchema,
  });
}

export type KmpConfigSchema = ReturnType<typeof createConfigSchema>;
/** What the schema produces: defaults applied, paths absolute, secrets and referenced files not yet loaded. */
export type ParsedConfig = z.output<KmpConfigSchema>;
/** The validated config: defaults applied, secrets resolved, referenced files checked, `state.file` absolute. */
export type KmpConfig = Loaded<ParsedConfig>;
/** What a config file may contain. */
export type KmpConfigInput = z.input<KmpConfigSchema>;
