// The local Kafka test bed: two single-node KRaft clusters ("source" and "target") on loopback, started
// from the Apache Kafka jars that Maven puts in .cache/. Tests, benches and `npm start` all use this one
// launcher, so there is exactly one way the project runs Kafka.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { probeMetadata } from './probe.ts';

export const KAFKA_VERSION = '4.3.1';
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
/**
 * Resolved through symlinks: git worktrees link .cache to the main checkout's, and every checkout must render
 * the same broker config (log.dirs is in it), or each would see a "changed" config and restart the shared pair.
 */
export const CACHE_DIR = realPathOrSelf(path.join(REPO_ROOT, '.cache'));
export const LIBS_DIR = path.join(CACHE_DIR, 'kafka', KAFKA_VERSION, 'libs');
export const RUN_DIR = process.env.KMP_KAFKA_RUN_DIR ?? path.join(CACHE_DIR, 'kafka-run');

function realPathOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p; // not created yet (first install): it is created as a plain directory, so this path is its real one
  }
}

export type ClusterName = 'source' | 'target';

export interface ClusterSpec {
  name: ClusterName;
  /** Base64url of 16 bytes, as `kafka-storage format -t` wants; fixed so restarts keep the same cluster. */
  clusterId: string;
  host: string;
  port: number;
  controllerPort: number;
  heapMb: number;
  /** An extra SASL_SSL listener (SCRAM-SHA-512/256 and PLAIN, test-bed CA) next to the plaintext one. */
  saslSslPort?: number;
  /**
   * An extra plaintext listener named PIPE whose advertised address is somewhere else: the bench's bare TCP relay
   * (`bench/lib/bare-pipe.ts`) listens on `advertisedPort` and forwards to `port`, so clients that bootstrap
   * through the relay are told to stay on it, with no Kafka parsing in between.
   */
  pipe?: { port: number; advertisedPort: number };
}

function clusterIdOf(label: string): string {
  return Buffer.from(label.padEnd(16, '-').slice(0, 16)).toString('base64url');
}

export const CLUSTERS: Record<ClusterName, ClusterSpec> = {
  source: { name: 'source', clusterId: clusterIdOf('kmp-source'), host: '127.0.0.1', port: 19092, controllerPort: 19093, heapMb: 512,
    pipe: { port: 19095, advertisedPort: 19096 } },
  target: { name: 'target', clusterId: clusterIdOf('kmp-target'), host: '127.0.0.1', port: 29092, controllerPort: 29093, heapMb: 512, saslSslPort: 29094 },
};

/**
 * The target's SASL_SSL listener (security tests: the proxy's upstream TLS + SASL). TEST-ONLY credentials: the
 * user exists on the test-bed target only; its CA and broker certificate are generated once with openssl into
 * `.cache/kafka-run/target/tls/` (ca.pem is what clients trust).
 */
export const TARGET_SASL_SSL = {
  host: '127.0.0.1',
  port: 29094,
  bootstrap: '127.0.0.1:29094',
  username: 'kmp',
  password: 'kmp-test-secret',
  mechanisms: ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN'] as const,
  caFile: path.join(RUN_DIR, 'target', 'tls', 'ca.pem'),
} as const;

const KEYSTORE_PASSWORD = 'kmp-test-keystore';
const SCRAM_ITERATIONS = 8192;

export function bootstrapOf(name: ClusterName): string {
  const c = CLUSTERS[name];
  return `${c.host}:${c.port}`;
}

/** The source's PIPE listener: where the broker listens, and the relay address it advertises there. */
export function sourcePipeListener(): { host: string; brokerPort: number; relayPort: number } {
  const { host, pipe } = CLUSTERS.source;
  if (pipe === undefined) throw new Error('the source cluster has no PIPE listener configured');
  return { host, brokerPort: pipe.port, relayPort: pipe.advertisedPort };
}

function log(msg: string): void {
  if (process.env.KMP_TESTBED_QUIET !== '1') process.stderr.write(`[kafka-testbed] ${msg}\n`);
}

/** Copies the Kafka jars from Maven Central into .cache/ once; later calls return at once. */
export function installKafka(): void {
  const marker = path.join(LIBS_DIR, '.complete');
  if (fs.existsSync(marker)) return;
  const started = Date.now();
  log(`installing Apache Kafka ${KAFKA_VERSION} jars with Maven into ${path.relative(REPO_ROOT, LIBS_DIR)}`);
  fs.mkdirSync(LIBS_DIR, { recursive: true });
  const res = spawnSync(
    'mvn',
    ['-q', '-B', '-Dstyle.color=never', '-f', path.join(REPO_ROOT, 'scripts', 'kafka', 'pom.xml'), `-Dkafka.version=${KAFKA_VERSION}`,
      'dependency:copy-dependencies', `-DoutputDirectory=${LIBS_DIR}`, '-DincludeScope=runtime'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (res.status !== 0) throw new Error(`mvn dependency:copy-dependencies failed (exit ${res.status})`);
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`);
  log(`installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function clusterDir(name: ClusterName): string {
  return path.join(RUN_DIR, name);
}

function pidFile(name: ClusterName): string {
  return path.join(clusterDir(name), 'pid');
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid recorded for a cluster, if that process is still alive. */
export function runningPid(name: ClusterName): number | null {
  try {
    const pid = Number(fs.readFileSync(pidFile(name), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

function tlsDir(spec: ClusterSpec): string {
  return path.join(clusterDir(spec.name), 'tls');
}

/** SASL_SSL listener settings: SCRAM users live in the cluster metadata, PLAIN users in the JAAS line. */
function saslSslProps(spec: ClusterSpec): string[] {
  const l = 'listener.name.sasl_ssl';
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  return [
    `${l}.sasl.enabled.mechanisms=${TARGET_SASL_SSL.mechanisms.join(',')}`,
    `${l}.scram-sha-512.sasl.jaas.config=${scram}`,
    `${l}.scram-sha-256.sasl.jaas.config=${scram}`,
    `${l}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${TARGET_SASL_SSL.username}="${TARGET_SASL_SSL.password}";`,
    `${l}.ssl.keystore.type=PKCS12`,
    `${l}.ssl.keystore.location=${path.join(tlsDir(spec), 'broker.p12')}`,
    `${l}.ssl.keystore.password=${KEYSTORE_PASSWORD}`,
    `${l}.ssl.key.password=${KEYSTORE_PASSWORD}`,
    `${l}.ssl.client.auth=none`,
  ];
}

function openssl(args: string[], cwd: string): void {
  const res = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`openssl ${args[0]} failed: ${res.stderr || res.error}`);
}

/** A CA and a broker certificate (SAN 127.0.0.1 and localhost) in a PKCS12 keystore; generated once. */
function ensureTestbedTls(spec: ClusterSpec): void {
  const dir = tlsDir(spec);
  if (fs.existsSync(path.join(dir, 'broker.p12')) && fs.existsSync(path.join(dir, 'ca.pem'))) return;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const days = '3650';
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', days, '-subj', `/CN=kmp test-bed ${spec.name} CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], tmp);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'broker.key', '-out', 'broker.csr', '-subj', `/CN=localhost`], tmp);
  fs.writeFileSync(path.join(tmp, 'broker.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', 'broker.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'broker.pem', '-days', days, '-extfile', 'broker.ext'], tmp);
  openssl(['pkcs12', '-export', '-in', 'broker.pem', '-inkey', 'broker.key', '-certfile', 'ca.pem', '-name', 'broker', '-out', 'broker.p12', '-passout', `pass:${KEYSTORE_PASSWORD}`], tmp);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}

/** What the SCRAM marker file records: the users and mechanisms the cluster was given. */
function scramMarkerText(): string {
  return `${TARGET_SASL_SSL.username} ${TARGET_SASL_SSL.mechanisms.filter((m) => m.startsWith('SCRAM')).join(',')} ${createHash('sha256').update(TARGET_SASL_SSL.password).digest('hex').slice(0, 16)}\n`;
}

function scramMarker(spec: ClusterSpec): string {
  return path.join(clusterDir(spec.name), 'scram-users');
}

function hasScramUsers(spec: ClusterSpec): boolean {
  try {
    return fs.readFileSync(scramMarker(spec), 'utf8') === scramMarkerText();
  } catch {
    return false;
  }
}

/** `name=…,password=…` credentials as StorageTool --add-scram and ConfigCommand --add-config spell them. */
function scramArgs(withName: boolean): string[] {
  const user = withName ? `name=${TARGET_SASL_SSL.username},` : '';
  return ['SCRAM-SHA-512', 'SCRAM-SHA-256'].map((m) => `${m}=[${user}iterations=${SCRAM_ITERATIONS},password=${TARGET_SASL_SSL.password}]`);
}

/**
 * A data directory formatted before the SASL_SSL listener existed has no SCRAM users: add them through the
 * plaintext listener (AlterUserScramCredentials via kafka-configs), then record that in the marker file.
 */
function addScramUsers(spec: ClusterSpec): void {
  log(`${spec.name}: adding SCRAM credentials for "${TARGET_SASL_SSL.username}"`);
  // One mechanism per call: the controller refuses two alterations of one user in the same request.
  for (const credential of scramArgs(false)) {
    const res = spawnSync('java', javaArgs({ ...spec, heapMb: 256 }, 'kafka.admin.ConfigCommand', [
      '--bootstrap-server', `${spec.host}:${spec.port}`, '--alter', '--entity-type', 'users', '--entity-name', TARGET_SASL_SSL.username,
      '--add-config', credential,
    ]), { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`adding SCRAM users to ${spec.name} failed: ${res.stderr || res.stdout}`);
  }
  fs.writeFileSync(scramMarker(spec), scramMarkerText());
}

/** The broker's properties file; a running broker started from other contents is restarted by startCluster. */
export function renderConfig(spec: ClusterSpec): string {
  const dir = clusterDir(spec.name);
  const plaintext = `PLAINTEXT://${spec.host}:${spec.port}`;
  const controller = `CONTROLLER://${spec.host}:${spec.controllerPort}`;
  const saslSsl = spec.saslSslPort === undefined ? null : `SASL_SSL://${spec.host}:${spec.saslSslPort}`;
  const pipe = spec.pipe === undefined ? null : { bind: `PIPE://${spec.host}:${spec.pipe.port}`, advertised: `PIPE://${spec.host}:${spec.pipe.advertisedPort}` };
  const listeners = [plaintext, controller, saslSsl, pipe?.bind].filter((l) => l != null);
  const advertised = [plaintext, saslSsl, pipe?.advertised].filter((l) => l != null);
  const protocols = ['PLAINTEXT:PLAINTEXT', 'CONTROLLER:PLAINTEXT', saslSsl ? 'SASL_SSL:SASL_SSL' : null, pipe ? 'PIPE:PLAINTEXT' : null].filter((p) => p != null);
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${spec.host}:${spec.controllerPort}`,
    `listeners=${listeners.join(',')}`,
    `advertised.listeners=${advertised.join(',')}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=${protocols.join(',')}`,
    ...(saslSsl ? saslSslProps(spec) : []),
    ...commonBrokerProps(path.join(dir, 'data')),
  ];
  return props.join('\n') + '\n';
}

/** The settings every test-bed broker shares (single node, generous message size), whatever its listeners. */
export function commonBrokerProps(dataDir: string): string[] {
  return [
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'auto.create.topics.enable=true',
    // Single node: every internal topic must accept replication factor 1.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Large-record tests send 1 MiB records; allow some headroom over the default 1 MiB.
    'message.max.bytes=4194304',
    'replica.fetch.max.bytes=4194304',
    'log.segment.bytes=104857600',
    'num.network.threads=2',
    'num.io.threads=4',
  ];
}

/**
 * Not `server.properties`: checkouts from before the PIPE listener compare a running broker's server.properties
 * with their own rendering and restart the shared broker when it differs. Under another name, an older checkout
 * sees its old file unchanged and leaves the broker alone, so two checkouts cannot restart it back and forth.
 */
const CONFIG_FILE_NAME = 'broker.properties';

function configFileOf(name: ClusterName): string {
  return path.join(clusterDir(name), CONFIG_FILE_NAME);
}

function writeConfig(spec: ClusterSpec): string {
  const dir = clusterDir(spec.name);
  if (spec.saslSslPort !== undefined) ensureTestbedTls(spec);
  const file = configFileOf(spec.name);
  fs.writeFileSync(file, renderConfig(spec));
  // An older checkout restarts a running broker whose server.properties differs from its own rendering (it has
  // other paths in it); with no such file it leaves the broker alone.
  fs.rmSync(path.join(dir, 'server.properties'), { force: true });
  writeLog4j(dir);
  return file;
}

/** A log4j2 config in `dir` sending the broker's log to `dir`/server.log. */
export function writeLog4j(dir: string): void {
  const log4j = [
    'Configuration:',
    '  name: kmp-testbed',
    '  Appenders:',
    '    File:',
    '      name: file',
    `      fileName: "${path.join(dir, 'server.log')}"`,
    '      PatternLayout:',
    '        pattern: "[%d] %p %m (%c)%n"',
    '  Loggers:',
    '    Root:',
    '      level: INFO',
    '      AppenderRef:',
    '        - ref: file',
    '    Logger:',
    '      - name: kafka.request.logger',
    '        level: WARN',
    '      - name: state.change.logger',
    '        level: WARN',
  ];
  fs.writeFileSync(path.join(dir, 'log4j2.yaml'), log4j.join('\n') + '\n');
}

function javaArgs(spec: ClusterSpec, mainClass: string, extra: string[]): string[] {
  return javaArgsIn(clusterDir(spec.name), spec.heapMb, mainClass, extra);
}

/** A Kafka JVM's command line whose logs (log4j2.yaml beside them) live in `dir`. */
export function javaArgsIn(dir: string, heapMb: number, mainClass: string, extra: string[]): string[] {
  return [
    `-Xms${heapMb}m`, `-Xmx${heapMb}m`,
    '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(dir, 'log4j2.yaml')}`,
    `-Dkafka.logs.dir=${dir}`,
    '-cp', `${LIBS_DIR}/*`,
    mainClass, ...extra,
  ];
}

function formatStorage(spec: ClusterSpec, configFile: string): void {
  if (fs.existsSync(path.join(clusterDir(spec.name), 'data', 'meta.properties'))) return;
  // SCRAM users of a SASL listener are bootstrapped into the metadata log at format time.
  const scram = spec.saslSslPort === undefined ? [] : scramArgs(true).flatMap((s) => ['--add-scram', s]);
  const res = spawnSync('java', javaArgs({ ...spec, heapMb: 256 }, 'kafka.tools.StorageTool',
    ['format', '-t', spec.clusterId, '-c', configFile, '--ignore-formatted', ...scram]), { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`formatting ${spec.name} storage failed: ${res.stderr || res.stdout}`);
  if (spec.saslSslPort !== undefined) fs.writeFileSync(scramMarker(spec), scramMarkerText());
}

async function waitForMetadata(spec: ClusterSpec, pid: number, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      throw new Error(`${spec.name} broker (pid ${pid}) exited during start; see ${path.join(clusterDir(spec.name), 'server.log')} and stdout.log`);
    }
    try {
      if ((await probeMetadata(spec.host, spec.port, 1000)) >= 1) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${spec.name} did not answer Metadata within ${deadlineMs} ms: ${String(lastError)}`);
}

export interface StartResult {
  name: ClusterName;
  pid: number;
  alreadyRunning: boolean;
  readyMs: number;
}

/** Starts one cluster unless it already runs; resolves once it answers a Metadata request. */
export async function startCluster(name: ClusterName, opts: { timeoutMs?: number } = {}): Promise<StartResult> {
  const spec = CLUSTERS[name];
  const started = Date.now();
  const existing = runningPid(name);
  if (existing !== null && !configChanged(spec, existing)) {
    await waitForMetadata(spec, existing, opts.timeoutMs ?? 60_000);
    if (spec.saslSslPort !== undefined && !hasScramUsers(spec)) addScramUsers(spec);
    return { name, pid: existing, alreadyRunning: true, readyMs: Date.now() - started };
  }
  if (existing !== null) {
    // Started from an older config (e.g. before the source had its PIPE listener): restart once.
    log(`${name}: broker config changed since it was started; restarting it`);
    await stopCluster(name);
  }
  installKafka();
  fs.mkdirSync(path.join(clusterDir(name), 'data'), { recursive: true });
  const configFile = writeConfig(spec);
  formatStorage(spec, configFile);
  const out = fs.openSync(path.join(clusterDir(name), 'stdout.log'), 'a');
  const child = spawn('java', javaArgs(spec, 'kafka.Kafka', [configFile]), {
    detached: true, // its own process group: it outlives `npm run kafka:up` and is stopped by kafka:down
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not spawn java for ${name}`);
  child.unref();
  fs.writeFileSync(pidFile(name), `${child.pid}\n`);
  await waitForMetadata(spec, child.pid, opts.timeoutMs ?? 90_000);
  if (spec.saslSslPort !== undefined && !hasScramUsers(spec)) addScramUsers(spec);
  return { name, pid: child.pid, alreadyRunning: false, readyMs: Date.now() - started };
}

/**
 * Whether the running broker was started from another config than the one it would get now: another file
 * (its command line names the file; an older checkout starts it from server.properties) or other contents.
 */
function configChanged(spec: ClusterSpec, pid: number): boolean {
  const file = configFileOf(spec.name);
  const startedFrom = commandLineOf(pid)?.find((arg) => arg.endsWith('.properties'));
  if (startedFrom !== undefined && realPathOrSelf(startedFrom) !== realPathOrSelf(file)) return true;
  try {
    return fs.readFileSync(file, 'utf8') !== renderConfig(spec);
  } catch {
    return true;
  }
}

/** A process's arguments (Linux /proc); null where /proc cannot be read, and then only the file's contents count. */
function commandLineOf(pid: number): string[] | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
}

/** Stops exactly the recorded process of one cluster (SIGTERM, then SIGKILL after a grace period). */
export async function stopCluster(name: ClusterName, opts: { graceMs?: number } = {}): Promise<boolean> {
  const pid = runningPid(name);
  if (pid === null) {
    fs.rmSync(pidFile(name), { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + (opts.graceMs ?? 30_000);
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
  fs.rmSync(pidFile(name), { force: true });
  return true;
}

export async function up(): Promise<StartResult[]> {
  installKafka();
  // Both JVMs start in parallel: most of the time is JVM and controller start-up, which overlap well.
  return Promise.all([startCluster('source'), startCluster('target')]);
}

export async function down(): Promise<ClusterName[]> {
  const stopped: ClusterName[] = [];
  for (const name of ['source', 'target'] as const) if (await stopCluster(name)) stopped.push(name);
  return stopped;
}

/** Resident set size of a process in MiB (Linux /proc), for reports. */
export function rssMiB(pid: number): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}
