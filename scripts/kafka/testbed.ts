// The local Kafka test bed: two single-node KRaft clusters ("source" and "target") on loopback, started
// from the Apache Kafka jars that Maven puts in .cache/. Tests, benches and `npm start` all use this one
// launcher, so there is exactly one way the project runs Kafka.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { probeMetadata } from './probe.ts';

export const KAFKA_VERSION = '4.3.1';
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CACHE_DIR = path.join(REPO_ROOT, '.cache');
export const LIBS_DIR = path.join(CACHE_DIR, 'kafka', KAFKA_VERSION, 'libs');
export const RUN_DIR = process.env.KMP_KAFKA_RUN_DIR ?? path.join(CACHE_DIR, 'kafka-run');

export type ClusterName = 'source' | 'target';

export interface ClusterSpec {
  name: ClusterName;
  /** Base64url of 16 bytes, as `kafka-storage format -t` wants; fixed so restarts keep the same cluster. */
  clusterId: string;
  host: string;
  port: number;
  controllerPort: number;
  heapMb: number;
}

function clusterIdOf(label: string): string {
  return Buffer.from(label.padEnd(16, '-').slice(0, 16)).toString('base64url');
}

export const CLUSTERS: Record<ClusterName, ClusterSpec> = {
  source: { name: 'source', clusterId: clusterIdOf('kmp-source'), host: '127.0.0.1', port: 19092, controllerPort: 19093, heapMb: 512 },
  target: { name: 'target', clusterId: clusterIdOf('kmp-target'), host: '127.0.0.1', port: 29092, controllerPort: 29093, heapMb: 512 },
};

export function bootstrapOf(name: ClusterName): string {
  const c = CLUSTERS[name];
  return `${c.host}:${c.port}`;
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

function isAlive(pid: number): boolean {
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

function writeConfig(spec: ClusterSpec): string {
  const dir = clusterDir(spec.name);
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${spec.host}:${spec.controllerPort}`,
    `listeners=PLAINTEXT://${spec.host}:${spec.port},CONTROLLER://${spec.host}:${spec.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${spec.host}:${spec.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${path.join(dir, 'data')}`,
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
  const file = path.join(dir, 'server.properties');
  fs.writeFileSync(file, props.join('\n') + '\n');
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
  return file;
}

function javaArgs(spec: ClusterSpec, mainClass: string, extra: string[]): string[] {
  return [
    `-Xms${spec.heapMb}m`, `-Xmx${spec.heapMb}m`,
    '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(clusterDir(spec.name), 'log4j2.yaml')}`,
    `-Dkafka.logs.dir=${clusterDir(spec.name)}`,
    '-cp', `${LIBS_DIR}/*`,
    mainClass, ...extra,
  ];
}

function formatStorage(spec: ClusterSpec, configFile: string): void {
  if (fs.existsSync(path.join(clusterDir(spec.name), 'data', 'meta.properties'))) return;
  const res = spawnSync('java', javaArgs({ ...spec, heapMb: 256 }, 'kafka.tools.StorageTool',
    ['format', '-t', spec.clusterId, '-c', configFile, '--ignore-formatted']), { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`formatting ${spec.name} storage failed: ${res.stderr || res.stdout}`);
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
  if (existing !== null) {
    await waitForMetadata(spec, existing, opts.timeoutMs ?? 60_000);
    return { name, pid: existing, alreadyRunning: true, readyMs: Date.now() - started };
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
  return { name, pid: child.pid, alreadyRunning: false, readyMs: Date.now() - started };
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
