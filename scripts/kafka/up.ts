// `npm run kafka:up`: start the local source+target Kafka pair (idempotent) and report timings.
import { up, rssMiB, bootstrapOf } from './testbed.ts';

const t0 = Date.now();
const results = await up();
for (const r of results) {
  const state = r.alreadyRunning ? 'already running' : `started, answered Metadata after ${(r.readyMs / 1000).toFixed(1)} s`;
  console.log(`${r.name.padEnd(6)} ${bootstrapOf(r.name)}  pid ${r.pid}  rss ${rssMiB(r.pid) ?? '?'} MiB  ${state}`);
}
console.log(`kafka:up done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
