// `npm run registry:up`: start the source and target Apicurio registries of the test bed (installs them first).
import { startRegistry } from './testbed.ts';

for (const r of await Promise.all([startRegistry('source'), startRegistry('target')])) {
  console.log(`${r.name} registry ${r.alreadyRunning ? 'already running' : `ready in ${(r.readyMs / 1000).toFixed(1)} s`}: ${r.url}`);
}
