// Runs the real proxy (`kmp serve`) as a child process for integration tests, with a generated config on free
// loopback ports, in front of the local Kafka pair.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, bootstrapOf } from '../../scripts/kafka/testbed.ts';
import { reapAtEnd } from './reap.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface ProxyRoutes {
  default?: 'source' | 'target';
  batches?: Record<string, { topics?: string[]; prefixes?: string[]; patterns?: string[] }>;
  topics?: Record<string, 'source' | 'target'>;
}

export interface StartProxyOptions {
  routes: ProxyRoutes;
  /** Reuse a state file (restart tests); default: a fresh temp dir. */
  stateDir?: string;
  /** Extra top-level config keys merged in (admin tokens, flip timeouts, …). */
  extra?: Record<string, unknown>;
  clusters?: { source?: string[]; target?: string[] };
  env?: Record<string, string>;
  /** Reuse ports (restart tests). */
  port?: number;
  adminPort?: number;
}

export interface RunningProxy {
  bootstrap: string;
  port: number;
  adminUrl: string;
  adminPort: number;
  stateDir: string;
  configFile: string;
  child: ChildProcess;
  /** Everything the proxy logged so far (JSON lines). */
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startProxy(opts: StartProxyOptions): Promise<RunningProxy> {
  const port = opts.port ?? (await freePort());
  const adminPort = opts.adminPort ?? (await freePort());
  const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-proxy-'));
  const config = {
    proxy: { listen: `127.0.0.1:${port}`, advertised: `127.0.0.1:${port}`, nodeId: 0 },
    admin: { listen: `127.0.0.1:${adminPort}` },
    clusters: {
      source: { bootstrap: opts.clusters?.source ?? [bootstrapOf('source')] },
      target: { bootstrap: opts.clusters?.target ?? [bootstrapOf('target')] },
    },
    routes: { default: 'source', batches: {}, ...opts.routes },
    state: { file: path.join(stateDir, 'kmp-state.json') },
    log: { level: 'debug' },
    // Write-back (copying target writes back to the source) is on by default in kmp; tests written before it
    // assert that a record lands on one cluster only, so it is off here unless a test turns it on.
    writeBack: { default: { writeBack: false } },
    ...opts.extra,
  };
  const configFile = path.join(stateDir, 'kmp.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  reapAtEnd(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  // Ready = the admin /readyz answers 200 (both clusters answered Metadata, listener bound).
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`proxy exited with ${child.exitCode} during start:\n${out}`);
    try {
      const res = await fetch(`${adminUrl}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`proxy not ready after 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    bootstrap: `127.0.0.1:${port}`,
    port,
    adminUrl,
    adminPort,
    stateDir,
    configFile,
    child,
    logs: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
