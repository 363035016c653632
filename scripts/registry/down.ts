// `npm run registry:down`: stop the registries `registry:up` started (by their pid files).
import { stopRegistry } from './testbed.ts';

for (const name of ['source', 'target'] as const) console.log(`${name} registry: ${(await stopRegistry(name)) ? 'stopped' : 'not running'}`);
