// Starts the bare pipe (bare-pipe-relay.ts) as a child process in front of the source broker's PIPE listener, and
// samples its CPU and memory from /proc like the proxy's. `throughput` uses it as the physical floor: what any
// Node proxy costs on this machine before it parses a single Kafka byte.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { sourcePipeListener } from '../../scripts/kafka/testbed.ts';
import { probeMetadata } from '../../scripts/kafka/probe.ts';
import { ProcSampler } from './proc.ts';

export interface BarePipe {
  /** What clients bootstrap to: the relay's address, which the broker's PIPE listener also advertises. */
  bootstrap: string;
  pid: number;
  sampler: ProcSampler;
  stop(): Promise<void>;
}

const RELAY = path.join(import.meta.dirname, 'bare-pipe-relay.ts');
const START_TIMEOUT_MS = 10_000;

export async function startBarePipe(): Promise<BarePipe> {
  const { host, brokerPort, relayPort } = sourcePipeListener();
  // Without the listener the relay would forward to nothing; say how to fix it instead of timing out in a client.
  try {
    await probeMetadata(host, brokerPort, 2000);
  } catch (err) {
    throw new Error(`the source broker does not answer on its PIPE listener ${host}:${brokerPort} (${String(err)}); it was started ` +
      'from an older config: restart the pair once with `npm run kafka:down && npm run kafka:up`, or run with --pipe=false');
  }
  const child = spawn(process.execPath, [RELAY, `${host}:${relayPort}`, `${host}:${brokerPort}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`bare pipe did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (s.includes('listening ')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => fail(new Error(`bare pipe exited with code ${code} before listening: ${stderr.trim() || 'no output'}` +
      `${stderr.includes('EADDRINUSE') ? ` (is another bench run using ${host}:${relayPort}?)` : ''}`)));
  });
  child.removeAllListeners('exit');
  if (child.pid === undefined) throw new Error('bare pipe child has no pid');
  const sampler = new ProcSampler(child.pid);
  return {
    bootstrap: `${host}:${relayPort}`,
    pid: child.pid,
    sampler,
    async stop() {
      sampler.stop();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
