// The schema-registry half of the test bed: two Apicurio Registry instances (source and target), in-memory storage,
// each on its own port, with the Confluent-compatible API under /apis/ccompat/v7 (NEXT.md §4). Installed with
// Maven from Maven Central like the Kafka jars (scripts/registry/pom.xml), run with the system's Java 17.
//
// Like the Kafka pair, the registries run detached (their own process group) with a pid file, so `registry:up`
// can return and `registry:down` (or the integration tests' teardown) stops exactly the processes it started.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const APICURIO_VERSION = process.env.KMP_APICURIO_VERSION ?? '3.0.9';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE_DIR = path.join(REPO_ROOT, '.cache');
export const REGISTRY_DIR = path.join(CACHE_DIR, 'registry', APICURIO_VERSION);
const RUN_DIR = process.env.KMP_REGISTRY_RUN_DIR ?? path.join(CACHE_DIR, 'registry-run');

export type RegistryName = 'source' | 'target';
/** Ports beside the Kafka pair's (19092 / 29092). */
export const REGISTRY_PORTS: Record<RegistryName, number> = {
  source: Number(process.env.KMP_SOURCE_REGISTRY_PORT ?? 18081),
  target: Number(process.env.KMP_TARGET_REGISTRY_PORT ?? 28081),
};

/** Another port than the test bed's: tests that need fresh, empty registries start their own. */
export interface RegistryPlacement {
  readonly port?: number;
}

const portOf = (name: RegistryName, at: RegistryPlacement): number => at.port ?? REGISTRY_PORTS[name];
const runDirOf = (name: RegistryName, at: RegistryPlacement): string => path.join(RUN_DIR, `${name}-${portOf(name, at)}`);

export function registryUrl(name: RegistryName, at: RegistryPlacement = {}): string {
  return `http://127.0.0.1:${portOf(name, at)}/apis/ccompat/v7`;
}

const log = (msg: string): void => console.error(`[registry] ${msg}`);
const runnerJar = (): string => path.join(REGISTRY_DIR, `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`);

/** Downloads and unpacks the assembly once (a marker file says it is complete). */
export function installRegistry(): void {
  const marker = path.join(REGISTRY_DIR, '.complete');
  if (fs.existsSync(marker)) return;
  const started = Date.now();
  fs.mkdirSync(REGISTRY_DIR, { recursive: true });
  const archive = path.join(REGISTRY_DIR, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
  if (!fs.existsSync(archive)) {
    log(`installing Apicurio Registry ${APICURIO_VERSION} with Maven into ${path.relative(REPO_ROOT, REGISTRY_DIR)}`);
    const res = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', path.join(REPO_ROOT, 'scripts', 'registry', 'pom.xml'),
      'dependency:copy', `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`, `-DoutputDirectory=${REGISTRY_DIR}`],
    { stdio: ['ignore', 'inherit', 'inherit'] });
    if (res.status !== 0) throw new Error(`mvn dependency:copy of apicurio-registry-app failed (exit ${res.status})`);
  }
  const untar = spawnSync('tar', ['xzf', archive, '-C', REGISTRY_DIR], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (untar.status !== 0) throw new Error(`could not unpack ${archive} (exit ${untar.status})`);
  if (!fs.existsSync(runnerJar())) throw new Error(`${runnerJar()} is missing after unpacking`);
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`);
  log(`installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const pidFile = (name: RegistryName, at: RegistryPlacement): string => path.join(runDirOf(name, at), 'pid');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runningPid(name: RegistryName, at: RegistryPlacement): number | null {
  try {
    const pid = Number(fs.readFileSync(pidFile(name, at), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

export async function isRegistryUp(name: RegistryName, at: RegistryPlacement = {}): Promise<boolean> {
  try {
    const res = await fetch(`${registryUrl(name, at)}/subjects`, { signal: AbortSignal.timeout(2_000) });
    return res.ok;
  } catch {
    return false;
  }
}

export interface StartedRegistry {
  readonly name: RegistryName;
  readonly url: string;
  readonly pid: number | null;
  readonly alreadyRunning: boolean;
  readonly readyMs: number;
}

/** Starts one registry unless it already answers on its port; resolves when its ccompat API answers. */
export async function startRegistry(name: RegistryName, at: RegistryPlacement = {}, timeoutMs = 120_000): Promise<StartedRegistry> {
  const started = Date.now();
  const url = registryUrl(name, at);
  if (await isRegistryUp(name, at)) return { name, url, pid: runningPid(name, at), alreadyRunning: true, readyMs: 0 };
  installRegistry();
  const runDir = runDirOf(name, at);
  fs.mkdirSync(runDir, { recursive: true });
  const out = fs.openSync(path.join(runDir, 'stdout.log'), 'a');
  const child = spawn('java', [
    '-Xmx384m',
    '-Dquarkus.http.host=127.0.0.1',
    `-Dquarkus.http.port=${portOf(name, at)}`,
    '-jar', runnerJar(),
  ], { cwd: REGISTRY_DIR, detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not spawn java for the ${name} registry`);
  child.unref();
  fs.writeFileSync(pidFile(name, at), `${child.pid}\n`);
  while (Date.now() - started < timeoutMs) {
    if (!isAlive(child.pid)) throw new Error(`the ${name} registry exited; see ${path.join(runDir, 'stdout.log')}`);
    if (await isRegistryUp(name, at)) return { name, url, pid: child.pid, alreadyRunning: false, readyMs: Date.now() - started };
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the ${name} registry did not answer within ${timeoutMs} ms`);
}

/** Stops a registry this test bed started (by its pid file), waiting for it to exit. */
export async function stopRegistry(name: RegistryName, at: RegistryPlacement = {}): Promise<boolean> {
  const pid = runningPid(name, at);
  if (pid === null) return false;
  try {
    process.kill(-pid, 'SIGTERM'); // its own process group (detached)
  } catch {
    process.kill(pid, 'SIGTERM');
  }
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
  fs.rmSync(pidFile(name, at), { force: true });
  return true;
}
