// The kmp config (docs/design.md §7): YAML or JSON, validated with zod, overridable key by key from the
// environment, every problem reported at once with the path of the bad key. The public API; the pieces:
//   schema.ts            every key, type, default and cross-field rule (pure)
//   secrets.ts           secrets inline / from the environment / from files; referenced files (certs, credentials)
//   references.ts        what parsing leaves for the load step
//   load-references.ts   the load step (the only I/O after the config file itself)
//   env-overrides.ts     KMP_A__B=value overrides
//   errors.ts            ConfigError and the `path: message` lines
//   topology.ts          proxy nodes and their advertised addresses per listener
//   host-port.ts         `host:port` parsing
//   load.ts              the pipeline: read, parse, override, validate, load

export { ConfigError } from './errors.ts';
export { applyEnvOverrides } from './env-overrides.ts';
export { parseHostPort, type HostPort } from './host-port.ts';
export { loadConfig, parseConfig, parseConfigText, type LoadConfigOptions, type ParseConfigOptions } from './load.ts';
export {
  ADMIN_ROLES,
  LOG_LEVELS,
  createConfigSchema,
  type AdminRole,
  type AdminToken,
  type ConfigSchemaOptions,
  type KmpConfig,
  type KmpConfigInput,
  type KmpConfigSchema,
  type LogLevel,
  type ParsedConfig,
} from './schema.ts';
export { listenerNodesOf, proxyClusterIdOf, proxyNodesOf } from './topology.ts';
