// A throw-away single-node KRaft broker owned by one test file. The shared source/target pair must never be
// stopped, paused or restarted (other test files and helpers use it at the same time), so a test that needs a
// broker fault — a paused source, a restarted control cluster — starts its own broker here on free ports and
// does to it what it likes: pause (SIGSTOP), resume, restart (same data, same ports), stop.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commonBrokerProps, installKafka, isAlive, javaArgsIn, writeLog4j } from '../../scripts/kafka/testbed.ts';
import { probeMetadata } from '../../scripts/kafka/probe.ts';

export interface ScratchBroker {
  readonly bootstrap: string;
  readonly port: number;
  readonly dir: string;
  pid(): number;
  /** SIGSTOP: the broker keeps its sockets open and answers nothing (a hung broker, not a dead one). */
  pause(): void;
  resume(): void;
  /** SIGTERM (SIGKILL after the grace), then start again on the same ports and data; resolves once it serves. */
  restart(opts?: { downMs?: number; kill?: boolean }): Promise<void>;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
}

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForExit(child: ChildProcess, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Starts a broker with its own cluster id in a fresh temp directory. `label` names the directory and appears
 * in errors. The process is killed when the test process exits, even on a crash.
 */
export async function startScratchBroker(label: string, opts: { heapMb?: number; startTimeoutMs?: number } = {}): Promise<ScratchBroker> {
  installKafka();
  const port = await freePort();
  const controllerPort = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kmp-scratch-${label}-`));
  const dataDir = path.join(dir, 'data');
  const heapMb = opts.heapMb ?? 384;
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    ...commonBrokerProps(dataDir),
  ];
  const configFile = path.join(dir, 'broker.properties');
  fs.writeFileSync(configFile, props.join('\n') + '\n');
  writeLog4j(dir);
  const clusterId = Buffer.from(`kmp-${label}`.padEnd(16, '-').slice(0, 16)).toString('base64url');
  const format = spawnSync('java', javaArgsIn(dir, 256, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', configFile]), { encoding: 'utf8' });
  if (format.status !== 0) throw new Error(`formatting scratch broker ${label} failed: ${format.stderr || format.stdout}`);

  let child: ChildProcess;
  const onExit = (): void => {
    if (child?.pid !== undefined && isAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', onExit);

  async function launch(): Promise<void> {
    const out = fs.openSync(path.join(dir, 'stdout.log'), 'a');
    child = spawn('java', javaArgsIn(dir, heapMb, 'kafka.Kafka', [configFile]), { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not spawn java for scratch broker ${label}`);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) throw new Error(`scratch broker ${label} exited during start; see ${path.join(dir, 'server.log')}`);
      try {
        if ((await probeMetadata('127.0.0.1', port, 1000)) >= 1) return;
      } catch (err) {
        lastError = err;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`scratch broker ${label} did not answer Metadata in time: ${String(lastError)}`);
  }

  await launch();
  return {
    bootstrap: `127.0.0.1:${port}`,
    port,
    dir,
    pid: () => child.pid ?? -1,
    pause: () => process.kill(child.pid ?? -1, 'SIGSTOP'),
    resume: () => process.kill(child.pid ?? -1, 'SIGCONT'),
    async restart(restartOpts = {}) {
      if (child.pid !== undefined) {
        process.kill(child.pid, 'SIGCONT'); // a paused JVM cannot handle SIGTERM
        process.kill(child.pid, restartOpts.kill === true ? 'SIGKILL' : 'SIGTERM');
      }
      await waitForExit(child, 30_000);
      if ((restartOpts.downMs ?? 0) > 0) await new Promise((r) => setTimeout(r, restartOpts.downMs));
      await launch();
    },
    async stop() {
      process.removeListener('exit', onExit);
      if (child.pid !== undefined && isAlive(child.pid)) {
        process.kill(child.pid, 'SIGCONT');
        process.kill(child.pid, 'SIGTERM');
      }
      await waitForExit(child, 15_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
