// Issue #11 point 6, measured: 3 raw connections each announce a 100 MiB request frame and send it slowly; the
// proxy's peak RSS (VmRSS of /proc/PID/status) with and without the request-bytes budget.
//
//   node bench/memory-attack.ts [maxBufferedRequestBytes ...]     (default: 0 = no budget, 256, 128 and 64 MiB)
//
// Standalone (not a bench/run.ts scenario): it starts its own proxy per setting in front of the local Kafka pair.
import fs from 'node:fs';
import net from 'node:net';
import { freePort, startProxy } from '../test/support/proxy.ts';
import { ensureKafkaPair } from '../test/support/kafka.ts';

const FRAME = 100 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const CONNECTIONS = 3;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Announces a FRAME-byte request, writes all but its last MiB at up to 100 MiB/s (respecting backpressure), holds
 * it there for 3 s (a slow peer: the proxy must keep what it read), then completes it. Resolves when the proxy
 * closed the connection (it refuses the request once it is read).
 */
function attack(port: number): Promise<{ written: number }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let written = 0;
    let held = false;
    s.on('error', () => undefined);
    s.on('close', () => resolve({ written }));
    s.on('connect', () => {
      const head = Buffer.alloc(14);
      head.writeInt32BE(FRAME, 0);
      head.writeInt16BE(0, 4); // Produce v0: refused by the proxy once it is read, like a garbage body
      head.writeInt16BE(0, 6);
      head.writeInt32BE(1, 8);
      head.writeInt16BE(-1, 12);
      s.write(head);
      written = 10;
      const chunk = Buffer.alloc(CHUNK, 0x61);
      const pump = (): void => {
        while (written < FRAME) {
          if (written >= FRAME - CHUNK && !held) {
            held = true;
            setTimeout(pump, 3_000);
            return;
          }
          const n = Math.min(CHUNK, FRAME - written);
          written += n;
          if (!s.write(n === CHUNK ? chunk : chunk.subarray(0, n))) {
            s.once('drain', () => setTimeout(pump, 10));
            return;
          }
          setTimeout(pump, 10);
          return;
        }
        setTimeout(() => s.destroy(), 2_000);
      };
      pump();
    });
  });
}

async function measure(budget: number): Promise<{ baseline: number; peak: number; seconds: number }> {
  const port = await freePort();
  const proxy = await startProxy({
    routes: { default: 'source' },
    port,
    extra: { proxy: { listen: `127.0.0.1:${port}`, advertised: `127.0.0.1:${port}`, nodeId: 0, limits: { maxBufferedRequestBytes: budget } }, log: { level: 'warn' } },
  });
  const pid = proxy.child.pid!;
  try {
    await new Promise((r) => setTimeout(r, 1_000));
    const baseline = rssMiB(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
    const started = Date.now();
    await Promise.all(Array.from({ length: CONNECTIONS }, () => attack(port)));
    clearInterval(sampler);
    return { baseline, peak, seconds: (Date.now() - started) / 1000 };
  } finally {
    await proxy.stop();
  }
}

await ensureKafkaPair();
const budgets = process.argv.slice(2).map(Number);
for (const budget of budgets.length > 0 ? budgets : [0, 256 * 1024 * 1024, 128 * 1024 * 1024, 64 * 1024 * 1024]) {
  const r = await measure(budget);
  console.log(`maxBufferedRequestBytes=${budget === 0 ? '0 (no budget)' : `${budget / 1024 / 1024} MiB`}: RSS ${r.baseline.toFixed(0)} MiB before, peak ${r.peak.toFixed(0)} MiB during ${CONNECTIONS} x 100 MiB frames (${r.seconds.toFixed(1)} s)`);
}
