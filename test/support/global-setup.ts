// Node test runner global setup: make sure the local source+target Kafka pair is running before any test
// file starts, and stop it afterwards only if this run started it (a developer's running pair is left alone).
import { up, down } from '../../scripts/kafka/testbed.ts';

let startedHere = false;

export async function globalSetup(): Promise<void> {
  if (process.env.KMP_SKIP_KAFKA === '1') return;
  const results = await up();
  startedHere = results.some((r) => !r.alreadyRunning);
}

export async function globalTeardown(): Promise<void> {
  if (startedHere && process.env.KMP_KEEP_KAFKA !== '1') await down();
}
