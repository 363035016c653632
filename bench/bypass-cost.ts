// Cost of bypass detection on load: the proxy's CPU time (utime+stime from /proc) over a fixed run with a
// producer pumping through kmp into a moved 100-partition topic, with the detector reading the old cluster every
// `intervalMs` and with it effectively off (one check an hour). Usage:
//   node bench/bypass-cost.ts [seconds=20] [intervalMs=500] [ratePerSec=2000]
import fs from 'node:fs';
import { createTopics, uniqueTopic } from '../test/support/kafka.ts';
import { startProxy } from '../test/support/proxy.ts';
import { kafkajsStreamingProducer, pump, sleep } from '../test/support/streaming-producers.ts';

const [seconds = 20, intervalMs = 500, rate = 2000] = process.argv.slice(2).map(Number);
const ticks = (pid: number): number => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
};

async function run(label: string, interval: number): Promise<void> {
  const topic = uniqueTopic('bench-bypass');
  await Promise.all([createTopics('source', [topic], 100), createTopics('target', [topic], 100)]);
  const proxy = await startProxy({ routes: { batches: { w: { topics: [topic] } } }, extra: { gates: { bypass: { intervalMs: interval, windowMs: 60_000 } }, log: { level: 'warn' } } });
  try {
    await fetch(`${proxy.adminUrl}/v1/batches/w/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const producer = kafkajsStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: topic });
    await producer.start();
    const load = pump(producer, { ratePerSec: rate, maxOutstanding: 2000, next: (seq) => ({ topic, key: `k${seq % 1000}`, value: `v-${seq}` }) });
    await sleep(3_000);
    const t0 = ticks(proxy.child.pid!);
    const acked0 = producer.acked.size;
    await sleep(seconds * 1000);
    const cpu = (ticks(proxy.child.pid!) - t0) / (seconds * 100);
    const acked = producer.acked.size - acked0;
    const report = (await (await fetch(`${proxy.adminUrl}/v1/bypass`)).json()) as { watching: { partitions: number }; lastCheckMs: number | null };
    await load.stop();
    await producer.close(20_000);
    console.log(`${label}: proxy CPU ${(cpu * 100).toFixed(1)}% of one core, ${(acked / seconds).toFixed(0)} records/s acknowledged, watching ${report.watching.partitions} partitions, last check ${report.lastCheckMs} ms`);
  } finally {
    await proxy.stop();
  }
}

await run(`detector every ${intervalMs} ms`, intervalMs);
await run('detector off (every hour)', 3_600_000);
await run(`detector every ${intervalMs} ms (again)`, intervalMs);
