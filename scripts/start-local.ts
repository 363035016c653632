// `npm start`: the newcomer's one command. Starts the local source+target Kafka pair (if not running) and
// then the proxy in front of them with config/local.yaml.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { up, bootstrapOf, REPO_ROOT } from './kafka/testbed.ts';

const results = await up();
for (const r of results) console.error(`[start] ${r.name} cluster at ${bootstrapOf(r.name)} (pid ${r.pid})`);
const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'kmp.js'), 'serve', '--config', path.join(REPO_ROOT, 'config', 'local.yaml'), ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => {
  console.error('[start] proxy stopped; the Kafka pair keeps running (npm run kafka:down stops it)');
  process.exitCode = code ?? 1;
});
