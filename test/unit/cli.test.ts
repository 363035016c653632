import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import client from 'prom-client';
import { createLogger } from '../../src/logger.ts';
import { startAdminServer, type AdminServer } from '../../src/admin/server.ts';
import { createControlPlane, type ControlPlane } from '../../routing/control-plane.ts';
import { MemoryStateStore } from '../../routing/state-store.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
const OPS_TOKEN = 'ops-token-0123456789abcdef';
const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';

let server: AdminServer;
let cp: ControlPlane;

before(async () => {
  cp = await createControlPlane({
    rules: { default: 'source', batches: { 'wave-1': { topics: ['orders', 'payments'], prefixes: ['billing.'] }, 'wave-2': { patterns: ['^logs\\..*'] } } },
    store: new MemoryStateStore(),
  });
  server = await startAdminServer({
    listen: '127.0.0.1:0',
    tokens: [
      { name: 'ops-alice', role: 'operator', token: OPS_TOKEN },
      { name: 'grafana', role: 'viewer', token: VIEWER_TOKEN },
    ],
    controlPlane: cp,
    status: () => ({ connections: 1, clusters: { source: { ready: true }, target: { ready: true } } }),
    ready: () => true,
    registry: new client.Registry(),
    logger: createLogger({ level: 'silent', pretty: false }),
  });
});

after(async () => {
  await server.close();
  await cp.close();
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI as a child process (asynchronously: the admin server lives in this process). */
function kmp(args: readonly string[], env: Record<string, string> = {}, options: { admin?: boolean; token?: string | null } = {}): Promise<Run> {
  const full = [...args];
  if (options.admin !== false) full.push('--admin', server.url);
  const token = options.token === undefined ? OPS_TOKEN : options.token;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, KMP_ADMIN_TOKEN: '', KMP_ADMIN_URL: '', ...env };
  if (token !== null) childEnv.KMP_ADMIN_TOKEN = token;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...full], { env: childEnv }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

test('routes --json prints the API answer', async () => {
  const run = await kmp(['routes', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const body = JSON.parse(run.stdout) as { version: number; batches: { name: string; state: string }[] };
  assert.deepEqual(body.batches.map((b) => [b.name, b.state]), [
    ['wave-1', 'source'],
    ['wave-2', 'source'],
  ]);
});

test('routes as a table contains the batches', async () => {
  const run = await kmp(['routes'], {}, { token: VIEWER_TOKEN });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^table version \d+, default route: source$/m);
  assert.match(run.stdout, /^BATCH +STATE +CLUSTER +TOPICS +PREFIXES +PATTERNS$/m);
  assert.match(run.stdout, /^wave-1 +source +source +orders,payments +billing\. +-$/m);
  assert.match(run.stdout, /^wave-2 +source +source +- +- +\^logs\\\.\.\*$/m);
});

test('flip (dry run, then real), resolve, audit, ledger, rollback --all', async () => {
  const dry = await kmp(['flip', 'wave-1', '--dry-run', '--reason', 'rehearsal']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^DRY RUN: flip of batch wave-1/);

  const flip = await kmp(['flip', 'wave-1', '--reason', 'wave 1 go']);
  assert.equal(flip.code, 0, flip.stderr);
  assert.match(flip.stdout, /^flip of batch wave-1: ok, table version 0 → 1$/m);
  assert.match(flip.stdout, /^batch +wave-1 +source +target$/m);

  const resolved = await kmp(['resolve', 'orders']);
  assert.equal(resolved.code, 0, resolved.stderr);
  assert.equal(resolved.stdout.trim(), 'orders → target  (state target, exact rule "orders", batch wave-1, table version 1)');

  const topic = await kmp(['rollback', '--topic', 'payments', '--reason', 'payments stays']);
  assert.equal(topic.code, 0, topic.stderr);
  assert.match(topic.stdout, /^rollback of topic payments: ok, table version 1 → 2$/m);

  const audit = await kmp(['audit']);
  assert.equal(audit.code, 0, audit.stderr);
  assert.match(audit.stdout, /^SEQ +WHEN +WHO +ACTION +TARGET +OUTCOME +VERSION +REASON$/m);
  assert.match(audit.stdout, /^1 +\S+ +ops-alice +flip +batch wave-1 +ok +1 +wave 1 go$/m);

  const ledger = await kmp(['ledger', '--limit', '5']);
  assert.equal(ledger.code, 0, ledger.stderr);

  const all = await kmp(['rollback', '--all', '--json']);
  assert.equal(all.code, 0, all.stderr);
  assert.equal((JSON.parse(all.stdout) as { action: string; version: number }).version, 3);
});

test('status prints the program\'s document', async () => {
  const run = await kmp(['status']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^connections: 1$/m);
});

test('API errors: message on stderr, exit 1', async () => {
  const unknown = await kmp(['flip', 'wave-9']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^kmp: unknown batch "wave-9"; the config declares wave-1, wave-2 \(404 NOT_FOUND\)$/m);

  const viewer = await kmp(['promote', 'wave-1'], {}, { token: VIEWER_TOKEN });
  assert.equal(viewer.code, 1);
  assert.match(viewer.stderr, /\(403 FORBIDDEN\)/);

  const anonymous = await kmp(['routes'], {}, { token: null });
  assert.equal(anonymous.code, 1);
  assert.match(anonymous.stderr, /\(401 UNAUTHORIZED\)/);

  const conflict = await kmp(['rollback', 'wave-2', '--json']);
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /409/);
  assert.equal((JSON.parse(conflict.stdout) as { error: { code: string } }).error.code, 'ROUTE_CONFLICT', '--json prints the error body');

  const port = await closedPort();
  const unreachable = await kmp(['routes', '--admin', `http://127.0.0.1:${port}`], {}, { admin: false });
  assert.equal(unreachable.code, 1);
  assert.equal(unreachable.stderr, `kmp: cannot reach the admin API at http://127.0.0.1:${port}: ECONNREFUSED\n`);
});

/** A port nothing listens on: bound once by us, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

test('--token and KMP_ADMIN_URL', async () => {
  const run = await kmp(['routes', '--json', '--token', VIEWER_TOKEN], { KMP_ADMIN_URL: server.url }, { admin: false, token: null });
  assert.equal(run.code, 0, run.stderr);
});

test('usage errors exit 2', async () => {
  for (const args of [[], ['frobnicate'], ['flip'], ['flip', 'wave-1', '--topic', 'orders'], ['promote', '--topic', 'x'], ['rollback'], ['routes', '--force'], ['routes', 'extra'], ['audit', '--limit', 'many'], ['serve'], ['flip', 'wave-1', '--bogus']]) {
    const run = await kmp(args);
    assert.equal(run.code, 2, `kmp ${args.join(' ')}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /^kmp: .*\n\nusage: kmp/, args.join(' '));
  }
  const help = await kmp(['--help'], {}, { admin: false });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: kmp/);
});
