// `npm run kafka:down`: stop exactly the JVMs that kafka:up recorded. Data directories are kept.
import { down } from './testbed.ts';

const stopped = await down();
console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
